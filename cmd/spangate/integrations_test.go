package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The CI integrations are thin wrappers around the CLI: every flag they
// pass must be one the CLI has, and every input they use must be declared.

var longFlag = regexp.MustCompile(`(?:^|[\s"(])(--[a-z][a-z0-9-]+)`)

// helpFlags returns the long flags that `spangate args… --help` lists.
func helpFlags(t *testing.T, args ...string) []string {
	t.Helper()
	out, stderr, code := cli(t, nil, append(args, "--help")...)
	if code != exitOK {
		t.Fatalf("spangate %s --help: exit %d %s", strings.Join(args, " "), code, stderr)
	}
	var flags []string
	for _, m := range longFlag.FindAllStringSubmatch(out, -1) {
		flags = append(flags, m[1])
	}
	return flags
}

// checkFlags fails for each --flag in script that none of the migrate
// subcommands it may run accepts.
func checkFlags(t *testing.T, file, script string, commands []string) {
	t.Helper()
	known := map[string][]string{}
	for _, c := range commands {
		known[c] = helpFlags(t, "migrate", c)
	}
	for _, m := range longFlag.FindAllStringSubmatch(script, -1) {
		f := m[1]
		ok := false
		for _, fl := range known {
			ok = ok || slices.Contains(fl, f)
		}
		if !ok {
			t.Errorf("%s passes %s, which no spangate migrate %s accepts", file, f, strings.Join(commands, "/"))
		}
	}
}

func TestGitHubActionMatchesTheCLI(t *testing.T) {
	const file = "../../integrations/github/action.yml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]any `yaml:"inputs"`
		Runs   struct {
			Using string `yaml:"using"`
			Steps []struct {
				ID   string `yaml:"id"`
				Run  string `yaml:"run"`
				Uses string `yaml:"uses"`
			} `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if action.Runs.Using != "composite" {
		t.Errorf("runs.using = %q", action.Runs.Using)
	}
	for _, m := range regexp.MustCompile(`inputs\.([a-z-]+)`).FindAllStringSubmatch(string(data), -1) {
		if _, ok := action.Inputs[m[1]]; !ok {
			t.Errorf("%s uses inputs.%s, which it does not declare", file, m[1])
		}
	}
	var run string
	for _, s := range action.Runs.Steps {
		if s.ID == "run" {
			run = s.Run
		}
		if strings.Contains(s.Run, "curl") && !strings.Contains(s.Run, "SHA256SUMS") {
			t.Error("the binary is downloaded without its checksum")
		}
	}
	if run == "" {
		t.Fatal("no step with id run")
	}
	checkFlags(t, file, run, []string{"plan", "apply", "status"})
}

func TestGitLabComponentMatchesTheCLI(t *testing.T) {
	const file = "../../templates/spangate.yml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var header struct {
		Spec struct {
			Inputs map[string]struct {
				Options []string `yaml:"options"`
			} `yaml:"inputs"`
		} `yaml:"spec"`
	}
	if err := dec.Decode(&header); err != nil {
		t.Fatalf("%s: spec: %v", file, err)
	}
	var jobs map[string]struct {
		Image struct {
			Entrypoint []string `yaml:"entrypoint"`
		} `yaml:"image"`
		IDTokens map[string]struct {
			Aud string `yaml:"aud"`
		} `yaml:"id_tokens"`
		Script []string `yaml:"script"`
	}
	if err := dec.Decode(&jobs); err != nil {
		t.Fatalf("%s: jobs: %v", file, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Errorf("%s holds more than the spec and the jobs", file)
	}
	for _, m := range regexp.MustCompile(`\$\[\[\s*inputs\.([a-z_]+)\s*\]\]`).FindAllStringSubmatch(string(data), -1) {
		if _, ok := header.Spec.Inputs[m[1]]; !ok {
			t.Errorf("%s uses inputs.%s, which spec.inputs does not declare", file, m[1])
		}
	}
	if len(jobs) != 1 {
		t.Fatalf("want one job, got %d", len(jobs))
	}
	for name, job := range jobs {
		if job.IDTokens["SPANGATE_ID_TOKEN"].Aud == "" {
			t.Errorf("job %s asks for no SPANGATE_ID_TOKEN", name)
		}
		if !slices.Equal(job.Image.Entrypoint, []string{""}) {
			t.Errorf("job %s keeps the image's entrypoint; the script needs the shell", name)
		}
		checkFlags(t, file, strings.Join(job.Script, "\n"), header.Spec.Inputs["command"].Options)
	}
}
