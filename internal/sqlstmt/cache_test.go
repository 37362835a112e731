package sqlstmt

import (
	"fmt"
	"reflect"
	"testing"
)

func TestCacheParseOne(t *testing.T) {
	var c Cache
	for _, text := range []string{"UPDATE T SET A = 1 WHERE Id = @id", "SELECT 1", "DELETE FROM T WHERE TRUE"} {
		want, err := ParseOne(text)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			got, err := c.ParseOne(text)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: got %+v, %v; want %+v", text, got, err, want)
			}
		}
	}
	// Errors come back every time, and a smuggled second statement is
	// refused as by ParseOne.
	for _, text := range []string{"SELEC 1", "SELECT 1; DELETE FROM T WHERE TRUE"} {
		for range 2 {
			if _, err := c.ParseOne(text); err == nil {
				t.Fatalf("%q: no error", text)
			}
		}
	}
	// The cache stays bounded.
	for i := range maxCached + 10 {
		if _, err := c.ParseOne(fmt.Sprintf("SELECT %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.stmts); n > maxCached {
		t.Fatalf("%d statements kept, more than %d", n, maxCached)
	}
}
