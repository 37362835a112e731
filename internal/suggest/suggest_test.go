package suggest

import (
	"strings"
	"testing"
)

func TestNearest(t *testing.T) {
	words := []string{"SELECT", "INSERT", "UPDATE", "DELETE", "session_ttl", "session_keys"}
	for _, tc := range []struct{ w, want string }{
		{"SELEC", "SELECT"},
		{"INSRET", "INSERT"}, // a swap is two edits
		{"UPDAT", "UPDATE"},
		{"session_tl", "session_ttl"},
		{"session_key", "session_keys"},
		{"FROBNICATE", ""}, // nothing near
		{"", ""},           // six edits from the nearest
		{strings.Repeat("S", 40), ""},
	} {
		if got := Nearest(tc.w, words); got != tc.want {
			t.Errorf("Nearest(%q) = %q, want %q", tc.w, got, tc.want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}, {"same", "same", 0},
		{strings.Repeat("a", 33), "a", 99},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (not symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}
