package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestUsageMistakesExit2 checks that a command line that cannot mean what
// its author wanted fails with exit 2 and says why, instead of printing help
// and succeeding: a pipeline with a typo must not pass having done nothing.
func TestUsageMistakesExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"migrate", "aply"}, `did you mean "apply"`},
		{[]string{"audit", "lst"}, `did you mean "list"`},
		{[]string{"schema", "dmp"}, `did you mean "dump"`},
		{[]string{"wif", "confg"}, `did you mean "config"`},
		{[]string{"completion", "bsh"}, `did you mean "bash"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "spangate"`},
		{[]string{"migrate"}, "spangate migrate needs a subcommand: apply, baseline, plan, status"},
		{[]string{"wif", "config"}, "required flag(s) --pool-provider, --provider, --service-account not set"},
		{[]string{"version", "extra"}, "unknown command"},
		{[]string{"migrate", "plan", "--no-such-flag"}, "unknown flag"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := cli(t, nil, tc.args...)
			if code != exitInvalid {
				t.Errorf("exit %d, want %d (stderr: %s)", code, exitInvalid, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.want)
			}
		})
	}
}

// TestHelpStillSucceeds keeps the ways of asking for help at exit 0.
func TestHelpStillSucceeds(t *testing.T) {
	for _, args := range [][]string{{}, {"--help"}, {"help", "migrate"}, {"migrate", "--help"}, {"completion", "bash"}, {"version"}} {
		if out, stderr, code := cli(t, nil, args...); code != exitOK || out == "" {
			t.Errorf("spangate %s: exit %d, %d bytes of output, stderr %q", strings.Join(args, " "), code, len(out), stderr)
		}
	}
}

// TestJSONErrorDocument checks that a failing command asked for --format
// json prints one JSON error document on stdout, with the kind, the hint
// and the exit code.
func TestJSONErrorDocument(t *testing.T) {
	out, _, code := cli(t, nil, "audit", "verify", "--format", "json")
	if code != exitInvalid {
		t.Fatalf("exit %d, want %d", code, exitInvalid)
	}
	var doc jsonError
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("stdout holds more than one document:\n%s", out)
	}
	if doc.Error.Kind != "invalid" || doc.ExitCode != exitInvalid || !strings.Contains(doc.Error.Message, "no database") || doc.Error.Hint == "" {
		t.Errorf("document = %+v", doc)
	}
	// Without --format json, stdout stays empty.
	if out, _, _ := cli(t, nil, "audit", "verify"); out != "" {
		t.Errorf("text mode printed on stdout: %q", out)
	}
}
