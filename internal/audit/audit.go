// Package audit defines spangate's audit trail: the entry recorded for every
// decision and every change, its hash chain, and the verifier that walks the
// chain and names the first entry that was edited, deleted, reordered or
// re-chained.
//
// The package is pure: it knows nothing of Spanner. The Spanner adapter
// (internal/spannerdb) stores entries, advances the chain head in the same
// transaction as the change, and streams entries to a Verifier.
//
// Each entry's Hash is the SHA-256 of a canonical, versioned binary encoding
// of every other field, including PrevHash, the previous entry's Hash. A
// change to any field of any entry breaks its own hash; a deleted entry
// leaves a gap in the sequence; an entry rewritten and re-hashed no longer
// matches the PrevHash its successor recorded. Rewriting the whole chain
// from some entry to the end (and the stored head) is not detectable from
// the chain alone: anchor the head hash elsewhere (for example in CI logs)
// to detect that.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"maps"
	"slices"
	"time"

	"github.com/spangate/spangate"
)

// The results an entry can record.
const (
	ResultOK     = "ok"
	ResultDenied = "denied"
	ResultFailed = "failed"
)

// MaxKeys is the largest number of primary keys recorded in one entry.
// A statement that touches more rows records the first MaxKeys keys, sets
// KeysIncomplete and keeps the full count in Rows. The cap keeps the audit
// rows of one change well inside Spanner's 80,000 mutations per commit, so
// the audit never makes a change fail that would otherwise fit.
const MaxKeys = 1000

// Entry is one record of the audit trail: a decision (allowed or denied), a
// query, a change, or a step of a migration.
type Entry struct {
	// Seq is the entry's position in the chain, from 1, without gaps.
	Seq int64
	// At is when the entry was made. Seal truncates it to microseconds in
	// UTC, the precision Spanner stores.
	At time.Time
	// Principal is the principal's short name, such as "bitbucket:{uuid}".
	Principal string
	// Issuer and Subject identify the verified token's issuer (by its
	// configured name) and subject.
	Issuer, Subject string
	// Attributes are the claims that identify the principal for its
	// provider (repository, workspace, environment…).
	Attributes map[string]string
	// Run is the CI metadata the caller reported, recorded as reported.
	Run spangate.RunMetadata
	// Action is the action asked for: plan, migrate, read, write, ddl,
	// destructive or audit.
	Action string
	// Database is the logical or full name of the database.
	Database string
	// Statement is the statement text (for a migration step, the
	// statements applied, separated by ";\n").
	Statement string
	// Params maps each parameter name to its value's hash (ParamHasher).
	// Raw values are never stored unless the gateway is configured to.
	Params map[string]string
	// Result is ResultOK, ResultDenied or ResultFailed.
	Result string
	// Reason says why a request was denied or failed, or adds context.
	Reason string
	// Rows is the number of rows the statement changed (or returned, for a
	// query), when known.
	Rows int64
	// Table is the table a DML statement changed.
	Table string
	// Keys are the primary keys of the rows a DML statement changed, each
	// as JSON array text such as [1,"a"], at most MaxKeys of them.
	Keys []string
	// KeysIncomplete is true when Keys does not list every row the statement
	// touched: the MaxKeys cap was reached or the keys could not be
	// captured.
	KeysIncomplete bool
	// PrevHash is the previous entry's Hash, "" for the first entry.
	PrevHash string
	// Hash is the hex SHA-256 of the entry's canonical encoding.
	Hash string
}

// encodingVersion prefixes the canonical encoding. Change it (and keep the
// old encoder for verification) whenever a field is added to Entry or to
// spangate.RunMetadata.
const encodingVersion = "spangate.audit.v1\n"

// Seal normalises e.At, sets e.PrevHash to prevHash and e.Hash to the
// SHA-256 of e's canonical encoding.
func (e *Entry) Seal(prevHash string) {
	e.At = normalTime(e.At)
	e.PrevHash = prevHash
	e.Hash = e.ComputeHash()
}

// ComputeHash returns the hash Seal would store for e as it is, without
// changing e: the hex SHA-256 of the canonical encoding of every field but
// Hash.
func (e *Entry) ComputeHash() string {
	h := sha256.New()
	e.encode(h)
	return hex.EncodeToString(h.Sum(nil))
}

func normalTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// encode writes the canonical encoding: a version line, then every field
// in a fixed order, each string and list length-prefixed, so that two
// entries that differ in any field encode differently. A nil and an empty
// map or list encode alike (storage does not keep the difference).
func (e *Entry) encode(h hash.Hash) {
	w := encoder{h: h}
	h.Write([]byte(encodingVersion))
	w.int(e.Seq)
	if e.At.IsZero() {
		w.bool(false)
	} else {
		w.bool(true)
		w.int(e.At.UnixMicro())
	}
	w.str(e.Principal)
	w.str(e.Issuer)
	w.str(e.Subject)
	w.strMap(e.Attributes)
	r := e.Run
	for _, s := range []string{r.CI, r.Commit, r.Build, r.Pipeline, r.Repository, r.Branch, r.Environment, r.PullRequest, r.Actor} {
		w.str(s)
	}
	w.str(e.Action)
	w.str(e.Database)
	w.str(e.Statement)
	w.strMap(e.Params)
	w.str(e.Result)
	w.str(e.Reason)
	w.int(e.Rows)
	w.str(e.Table)
	w.int(int64(len(e.Keys)))
	for _, k := range e.Keys {
		w.str(k)
	}
	w.bool(e.KeysIncomplete)
	w.str(e.PrevHash)
}

type encoder struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64]byte
}

func (w *encoder) int(n int64) {
	w.h.Write(binary.BigEndian.AppendUint64(w.buf[:0], uint64(n)))
}

func (w *encoder) bool(b bool) {
	if b {
		w.h.Write([]byte{1})
	} else {
		w.h.Write([]byte{0})
	}
}

func (w *encoder) str(s string) {
	w.h.Write(binary.AppendUvarint(w.buf[:0], uint64(len(s))))
	w.h.Write([]byte(s))
}

func (w *encoder) strMap(m map[string]string) {
	w.int(int64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		w.str(k)
		w.str(m[k])
	}
}

// ParamHasher hashes the values of statement parameters for the audit
// trail, so that an entry shows which values a statement ran with without
// storing them.
//
// The zero value hashes with SHA-256: "sha256:<hex>". That hides a value
// from casual reading, not from guessing: a value from a small set (a
// flag, a status, a short number, an email address from a known list) is
// found by hashing every candidate. A hasher with a key (NewParamHasher)
// uses HMAC-SHA-256: "hmac-sha256:<key id>:<hex>". Without the key no
// candidate can be tested; with it, anyone can still check a claimed value
// (spangate audit hash-param). The key id names the key, so that hashes
// made with a key that was later replaced are recognised.
//
// Either way the value is salted with the parameter's name, so equal
// values of different parameters do not match, and encoded as JSON (fmt's
// %v for what JSON cannot encode) with its Go type, so 1 and "1" differ.
type ParamHasher struct {
	key []byte
	id  string
}

// MinParamKeyBytes is the shortest parameter hash key accepted.
const MinParamKeyBytes = 32

// NewParamHasher returns a hasher that uses HMAC-SHA-256 with key.
func NewParamHasher(key []byte) (ParamHasher, error) {
	if len(key) < MinParamKeyBytes {
		return ParamHasher{}, fmt.Errorf("the parameter hash key is %d bytes long; use at least %d random bytes, such as the output of: openssl rand -base64 32", len(key), MinParamKeyBytes)
	}
	sum := sha256.Sum256(append([]byte("spangate.param-key.v1\n"), key...))
	return ParamHasher{key: slices.Clone(key), id: hex.EncodeToString(sum[:4])}, nil
}

// String describes the hasher without its key, so that formatting it
// (%v, %+v, a log line) never shows the key.
func (h ParamHasher) String() string {
	if h.key == nil {
		return "ParamHasher(sha256)"
	}
	return "ParamHasher(hmac-sha256, key " + h.id + ")"
}

// GoString is String, for %#v.
func (h ParamHasher) GoString() string { return h.String() }

// KeyID names the hasher's key (8 hex digits derived from it, which do not
// reveal it), or is empty for the unkeyed hasher.
func (h ParamHasher) KeyID() string { return h.id }

// Hash returns the stored form of one parameter's value.
func (h ParamHasher) Hash(name string, value any) string {
	var mac hash.Hash
	if h.key == nil {
		mac = sha256.New()
	} else {
		mac = hmac.New(sha256.New, h.key)
	}
	w := encoder{h: mac}
	mac.Write([]byte("spangate.param.v1\n"))
	w.str(name)
	w.str(fmt.Sprintf("%T", value))
	b, err := json.Marshal(value)
	if err != nil {
		b = fmt.Appendf(nil, "%v", value)
	}
	w.str(string(b))
	if h.key == nil {
		return "sha256:" + hex.EncodeToString(mac.Sum(nil))
	}
	return "hmac-sha256:" + h.id + ":" + hex.EncodeToString(mac.Sum(nil))
}

// HashAll returns Hash of every parameter, or nil for none.
func (h ParamHasher) HashAll(params map[string]any) map[string]string {
	if len(params) == 0 {
		return nil
	}
	out := make(map[string]string, len(params))
	for name, v := range params {
		out[name] = h.Hash(name, v)
	}
	return out
}

// Record returns what an entry records of params: the hash of every value
// and, with withValues, the value itself (as JSON) after its hash:
// "<hash> <json>". Values are recorded only when the gateway's config
// asks for it (audit.store_param_values).
func (h ParamHasher) Record(params map[string]any, withValues bool) map[string]string {
	out := h.HashAll(params)
	if !withValues {
		return out
	}
	for name, v := range params {
		b, err := json.Marshal(v)
		if err != nil {
			b = fmt.Appendf(nil, "%q", fmt.Sprint(v))
		}
		out[name] += " " + string(b)
	}
	return out
}

// Filter selects entries of the audit trail. Empty fields do not filter.
type Filter struct {
	// Table and Key select the entries that changed one row: Key is the
	// row's primary key as JSON array text ([1,"a"]), or a bare value for a
	// one-column key (see KeyCandidates). Table alone selects every entry
	// that changed the table.
	Table, Key string
	// Principal and Action match exactly.
	Principal, Action string
	// Since keeps entries made at or after it.
	Since time.Time
	// Limit caps the number of entries: DefaultLimit when zero, at most
	// MaxLimit.
	Limit int
	// Before, when positive, keeps entries whose Seq is below it: the
	// cursor of the next page (the Seq of the last entry of this one).
	Before int64
}

// Limits of Filter.Limit.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
)

// EffectiveLimit returns f.Limit clamped to [1, MaxLimit], DefaultLimit when
// it is not positive.
func (f Filter) EffectiveLimit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// Match reports whether e passes the filter's Principal, Action, Since and
// Table fields (Key is matched by storage, which knows the key index).
func (f Filter) Match(e *Entry) bool {
	return (f.Principal == "" || e.Principal == f.Principal) &&
		(f.Action == "" || e.Action == f.Action) &&
		(f.Since.IsZero() || !e.At.Before(f.Since))
}
