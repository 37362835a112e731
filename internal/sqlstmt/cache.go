package sqlstmt

import "sync"

// Cache remembers the statements ParseOne parsed, by their exact text, so
// that a statement sent again and again with other parameter values (the
// usual way to send DML) is parsed once. A Statement from the cache is
// shared: callers must not change it. The zero Cache is ready to use.
type Cache struct {
	mu    sync.Mutex
	stmts map[string]Statement
}

// Limits of what a Cache keeps: texts longer than maxCachedText are
// parsed every time, and when maxCached texts are kept the cache is
// cleared and refilled by the texts in use.
const (
	maxCached     = 1024
	maxCachedText = 16 << 10
)

// ParseOne is the package's ParseOne, remembered. Errors are not
// remembered.
func (c *Cache) ParseOne(text string) (Statement, error) {
	if len(text) > maxCachedText {
		return ParseOne(text)
	}
	c.mu.Lock()
	st, ok := c.stmts[text]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := ParseOne(text)
	if err != nil {
		return st, err
	}
	c.mu.Lock()
	if c.stmts == nil || len(c.stmts) >= maxCached {
		c.stmts = make(map[string]Statement)
	}
	c.stmts[text] = st
	c.mu.Unlock()
	return st, nil
}
