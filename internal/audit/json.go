package audit

import (
	"encoding/json"
	"time"

	"github.com/spangate/spangate"
)

// entryJSON is the JSON form of an Entry, the contract of `audit list`
// and GET /v1/databases/{db}/audit: seq, at, principal, action, statement,
// table, keys, result, commit and pipeline, plus the rest of the entry.
type entryJSON struct {
	Seq            int64                `json:"seq"`
	At             time.Time            `json:"at"`
	Principal      string               `json:"principal"`
	Action         string               `json:"action"`
	Statement      string               `json:"statement"`
	Table          string               `json:"table"`
	Keys           []string             `json:"keys"`
	Result         string               `json:"result"`
	Commit         string               `json:"commit"`
	Pipeline       string               `json:"pipeline"`
	Issuer         string               `json:"issuer,omitempty"`
	Subject        string               `json:"subject,omitempty"`
	Attributes     map[string]string    `json:"attributes,omitempty"`
	Run            spangate.RunMetadata `json:"run"`
	Database       string               `json:"database,omitempty"`
	Params         map[string]string    `json:"params,omitempty"`
	Reason         string               `json:"reason,omitempty"`
	Rows           int64                `json:"rows"`
	KeysIncomplete bool                 `json:"keys_incomplete,omitempty"`
	PrevHash       string               `json:"prev_hash"`
	Hash           string               `json:"hash"`
}

// MarshalJSON encodes e with the contract's field names; `commit` and
// `pipeline` are taken from e.Run, which is also included in full.
func (e Entry) MarshalJSON() ([]byte, error) {
	keys := e.Keys
	if keys == nil {
		keys = []string{}
	}
	return json.Marshal(entryJSON{
		Seq: e.Seq, At: e.At, Principal: e.Principal, Action: e.Action, Statement: e.Statement,
		Table: e.Table, Keys: keys, Result: e.Result, Commit: e.Run.Commit, Pipeline: e.Run.PipelineRef(),
		Issuer: e.Issuer, Subject: e.Subject, Attributes: e.Attributes, Run: e.Run, Database: e.Database,
		Params: e.Params, Reason: e.Reason, Rows: e.Rows, KeysIncomplete: e.KeysIncomplete,
		PrevHash: e.PrevHash, Hash: e.Hash,
	})
}

// UnmarshalJSON decodes what MarshalJSON encodes, so a client of the
// gateway gets back the entry that was sealed (and can verify its hash).
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j entryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Entry{
		Seq: j.Seq, At: j.At, Principal: j.Principal, Issuer: j.Issuer, Subject: j.Subject,
		Attributes: j.Attributes, Run: j.Run, Action: j.Action, Database: j.Database, Statement: j.Statement,
		Params: j.Params, Result: j.Result, Reason: j.Reason, Rows: j.Rows, Table: j.Table, Keys: j.Keys,
		KeysIncomplete: j.KeysIncomplete, PrevHash: j.PrevHash, Hash: j.Hash,
	}
	if e.Run.Commit == "" {
		e.Run.Commit = j.Commit
	}
	return nil
}
