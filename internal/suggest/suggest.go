// Package suggest finds what a user probably meant: the known word nearest
// to a misspelled one, for "did you mean …?" in errors (config keys, SQL
// keywords).
package suggest

// Nearest returns the word of words within two edits of w (Levenshtein
// distance), the nearest first in words' order, or "" when none is that
// close. Words longer than 32 bytes are never near: the distance is not
// computed for them.
func Nearest(w string, words []string) string {
	best, bestD := "", 3
	for _, c := range words {
		if d := Distance(w, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance between a and b, or 99 when either
// is longer than 32 bytes.
func Distance(a, b string) int {
	if len(a) > 32 || len(b) > 32 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
