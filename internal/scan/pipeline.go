package scan

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/spangate/spangate"
)

// The CI systems whose pipeline files scan reads.
const (
	CIBitbucket = "bitbucket"
	CIGitHub    = "github"
	CIGitLab    = "gitlab"
)

// Pipeline is what scan (and the pipeline test harness) needs of a CI
// system's pipeline file: its steps, what identity each gets and what it
// runs.
type Pipeline struct {
	// CI is CIBitbucket, CIGitHub or CIGitLab.
	CI string
	// File is the file's path as given.
	File string
	// Steps are the file's steps (Bitbucket), jobs (GitHub, GitLab) in
	// file order.
	Steps []Step
}

// Step is one unit of a pipeline that runs in its own environment: a
// Bitbucket step, a GitHub Actions job (its run: steps joined), a GitLab
// CI job.
type Step struct {
	// Name is the step's name, or the job's id.
	Name string
	// Line is where the step is defined.
	Line int
	// Trigger says when it runs, as the file groups it: for Bitbucket
	// "pull-requests/**", "branches/main", "default"…; "" elsewhere.
	Trigger string
	// OIDC reports whether the step gets an OIDC ID token: oidc: true
	// (Bitbucket), permissions id-token: write (GitHub), id_tokens
	// (GitLab).
	OIDC bool
	// Audiences are the custom audiences of the step's token (Bitbucket
	// oidc audiences, step or global).
	Audiences []string
	// IDTokens maps each GitLab id_tokens variable to its audiences.
	IDTokens map[string][]string
	// Deployment is the deployment environment: Bitbucket deployment:,
	// GitHub environment:, GitLab environment:.
	Deployment string
	// Env is what the file sets in the step's environment (workflow, job
	// and step env: on GitHub; variables: on GitLab).
	Env map[string]string
	// Script is what the step runs, line by line.
	Script []ScriptLine
	// AfterScript runs after Script, also when it failed.
	AfterScript []ScriptLine
}

// ScriptLine is one shell line of a step and where it is.
type ScriptLine struct {
	Text string
	Line int
}

func decode(file string, b []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "%s: not valid YAML: %w", file, err).
			WithHint("fix the YAML syntax at the line the message names")
	}
	return resolve(&doc), nil
}

// ParseBitbucket reads a bitbucket-pipelines.yml.
func ParseBitbucket(file string, b []byte) (*Pipeline, error) {
	root, err := decode(file, b)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{CI: CIBitbucket, File: file}
	if root == nil {
		return p, nil
	}
	global := stringList(get(get(get(root, "options"), "oidc"), "audiences"))
	var addSteps func(trigger string, list *yaml.Node, stageDeployment string)
	addStep := func(trigger string, n *yaml.Node, stageDeployment string) {
		s := Step{Name: scalar(get(n, "name")), Line: n.Line, Trigger: trigger,
			Deployment: cmpOr(scalar(get(n, "deployment")), stageDeployment)}
		if o := get(n, "oidc"); o != nil {
			s.OIDC = truthy(o) || resolve(o).Kind == yaml.MappingNode
			s.Audiences = stringList(get(o, "audiences"))
		}
		if s.OIDC && len(s.Audiences) == 0 {
			s.Audiences = global
		}
		s.Script = scriptLines(get(n, "script"))
		s.AfterScript = scriptLines(get(n, "after-script"))
		if s.Name == "" {
			s.Name = fmt.Sprintf("step at line %d", n.Line)
		}
		p.Steps = append(p.Steps, s)
	}
	addSteps = func(trigger string, list *yaml.Node, stageDeployment string) {
		for _, it := range items(list) {
			if st := get(it, "step"); st != nil {
				addStep(trigger, st, stageDeployment)
			}
			if par := get(it, "parallel"); par != nil {
				if steps := get(par, "steps"); steps != nil {
					par = steps
				}
				addSteps(trigger, par, stageDeployment)
			}
			if stage := get(it, "stage"); stage != nil {
				addSteps(trigger, get(stage, "steps"), scalar(get(stage, "deployment")))
			}
		}
	}
	for _, kv := range pairs(get(root, "pipelines")) {
		group, v := kv[0].Value, kv[1]
		if v.Kind == yaml.SequenceNode {
			addSteps(group, v, "")
			continue
		}
		for _, sub := range pairs(v) {
			addSteps(group+"/"+sub[0].Value, sub[1], "")
		}
	}
	return p, nil
}

// ParseGitHub reads a GitHub Actions workflow. Each job is a Step whose
// Script holds the lines of its run: steps.
func ParseGitHub(file string, b []byte) (*Pipeline, error) {
	root, err := decode(file, b)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{CI: CIGitHub, File: file}
	if root == nil {
		return p, nil
	}
	wfPerms := get(root, "permissions")
	wfEnv := envOf(get(root, "env"))
	for _, kv := range pairs(get(root, "jobs")) {
		job := kv[1]
		s := Step{Name: kv[0].Value, Line: kv[0].Line, Env: map[string]string{}}
		perms := get(job, "permissions")
		if perms == nil {
			perms = wfPerms
		}
		s.OIDC = idTokenWrite(perms)
		if env := get(job, "environment"); env != nil {
			s.Deployment = cmpOr(scalar(env), scalar(get(env, "name")))
		}
		for k, v := range wfEnv {
			s.Env[k] = v
		}
		for k, v := range envOf(get(job, "env")) {
			s.Env[k] = v
		}
		for _, st := range items(get(job, "steps")) {
			for k, v := range envOf(get(st, "env")) {
				s.Env[k] = v
			}
			s.Script = append(s.Script, scriptLines(get(st, "run"))...)
		}
		p.Steps = append(p.Steps, s)
	}
	return p, nil
}

// idTokenWrite reports whether GitHub permissions grant id-token: write.
func idTokenWrite(perms *yaml.Node) bool {
	if perms == nil {
		return false
	}
	if v := scalar(perms); v != "" {
		return v == "write-all"
	}
	return scalar(get(perms, "id-token")) == "write"
}

// gitlabReserved are top-level keys of .gitlab-ci.yml that are not jobs.
var gitlabReserved = []string{"default", "include", "stages", "variables", "workflow", "image", "services", "cache",
	"before_script", "after_script", "spec"}

// ParseGitLab reads a .gitlab-ci.yml. Hidden jobs (.name) are templates:
// extends: merges their keys into the jobs that name them.
func ParseGitLab(file string, b []byte) (*Pipeline, error) {
	root, err := decode(file, b)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{CI: CIGitLab, File: file}
	if root == nil {
		return p, nil
	}
	jobs := map[string]*yaml.Node{}
	for _, kv := range pairs(root) {
		jobs[kv[0].Value] = kv[1]
	}
	def := get(root, "default")
	globalVars := envOf(get(root, "variables"))
	// lookup finds key in the job, then in what it extends (depth first,
	// last template wins as in GitLab), then in default:.
	var lookup func(job *yaml.Node, key string, depth int) *yaml.Node
	lookup = func(job *yaml.Node, key string, depth int) *yaml.Node {
		if v := get(job, key); v != nil {
			return v
		}
		if depth > 10 {
			return nil
		}
		ext := stringList(get(job, "extends"))
		for i := len(ext) - 1; i >= 0; i-- {
			if t, ok := jobs[ext[i]]; ok {
				if v := lookup(t, key, depth+1); v != nil {
					return v
				}
			}
		}
		return nil
	}
	for _, kv := range pairs(root) {
		name, job := kv[0].Value, kv[1]
		if strings.HasPrefix(name, ".") || slices.Contains(gitlabReserved, name) || job.Kind != yaml.MappingNode {
			continue
		}
		s := Step{Name: name, Line: kv[0].Line, Env: map[string]string{}, IDTokens: map[string][]string{}}
		tokens := lookup(job, "id_tokens", 0)
		if tokens == nil {
			tokens = get(def, "id_tokens")
		}
		for _, t := range pairs(tokens) {
			s.IDTokens[t[0].Value] = stringList(get(t[1], "aud"))
		}
		s.OIDC = len(s.IDTokens) > 0
		if env := lookup(job, "environment", 0); env != nil {
			s.Deployment = cmpOr(scalar(env), scalar(get(env, "name")))
		}
		for k, v := range globalVars {
			s.Env[k] = v
		}
		for k, v := range envOf(lookup(job, "variables", 0)) {
			s.Env[k] = v
		}
		before := lookup(job, "before_script", 0)
		if before == nil {
			before = cmpOrNode(get(def, "before_script"), get(root, "before_script"))
		}
		after := lookup(job, "after_script", 0)
		if after == nil {
			after = cmpOrNode(get(def, "after_script"), get(root, "after_script"))
		}
		s.Script = append(scriptLines(before), scriptLines(lookup(job, "script", 0))...)
		s.AfterScript = scriptLines(after)
		p.Steps = append(p.Steps, s)
	}
	return p, nil
}

// envOf reads a mapping of variables; GitLab's {value: …} form included.
func envOf(n *yaml.Node) map[string]string {
	out := map[string]string{}
	for _, kv := range pairs(n) {
		v := kv[1]
		if v.Kind == yaml.MappingNode {
			v = get(v, "value")
		}
		out[kv[0].Value] = scalar(v)
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func cmpOrNode(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}
