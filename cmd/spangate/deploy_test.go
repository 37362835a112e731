package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"go.yaml.in/yaml/v3"

	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/policy"
)

// The deployment files in deploy/ are what a team applies as they are: each
// must parse, its gateway config must load and compile, and the manifests
// must run the gateway the way the config says (ports, mounted key files,
// the probes on the right listener).

// yamlDocs reads every document of a multi-document YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// dig walks maps and lists (by int index) of a decoded YAML value.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func loadDeployConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := config.Load(f, path)
	if err != nil {
		t.Fatalf("%s does not load: %v", path, err)
	}
	if _, err := policy.New(cfg); err != nil {
		t.Fatalf("%s: the policy does not compile: %v", path, err)
	}
	return cfg
}

// underMount reports whether file lies in one of the container's mounts.
func underMount(file string, mounts []string) bool {
	return slices.ContainsFunc(mounts, func(m string) bool { return strings.HasPrefix(file, strings.TrimSuffix(m, "/")+"/") })
}

func containerMounts(c any) []string {
	var mounts []string
	for _, m := range dig(c, "volumeMounts").([]any) {
		mounts = append(mounts, dig(m, "mountPath").(string))
	}
	return mounts
}

func TestDeployCloudRun(t *testing.T) {
	docs := yamlDocs(t, "../../deploy/cloudrun/spangate.yaml")
	if len(docs) != 1 || docs[0]["kind"] != "Service" || docs[0]["apiVersion"] != "serving.knative.dev/v1" {
		t.Fatalf("want one Knative Service, got %v", docs)
	}
	c := dig(docs[0], "spec", "template", "spec", "containers", 0)
	args, _ := dig(c, "args").([]any)
	if len(args) != 3 || args[0] != "serve" || args[1] != "--config" {
		t.Fatalf("args = %v, want serve --config FILE", args)
	}
	mounts := containerMounts(c)
	if !underMount(args[2].(string), mounts) {
		t.Errorf("the config %s is not in a mounted volume %v", args[2], mounts)
	}
	cfg := loadDeployConfig(t, "../../deploy/cloudrun/config.yaml")
	for _, k := range cfg.SessionKeys {
		if !underMount(k.File, mounts) {
			t.Errorf("session key %s is not in a mounted volume", k.File)
		}
	}
	if !underMount(cfg.Audit.ParamHashKeyFile, mounts) {
		t.Errorf("the parameter hash key %s is not in a mounted volume", cfg.Audit.ParamHashKeyFile)
	}
	port := dig(c, "ports", 0, "containerPort")
	if !strings.HasSuffix(cfg.Listen, ":"+itoa(port)) {
		t.Errorf("the container port %v is not the config's listen %s", port, cfg.Listen)
	}
	if !strings.HasPrefix(cfg.AdminListen, "127.0.0.1:") {
		t.Errorf("admin_listen %q: Cloud Run must not expose /readyz and /metrics", cfg.AdminListen)
	}
	for _, probe := range []string{"startupProbe", "livenessProbe"} {
		if p := dig(c, probe, "httpGet", "path"); p != "/healthz" {
			t.Errorf("%s path = %v, want /healthz", probe, p)
		}
	}
}

func TestDeployGKE(t *testing.T) {
	docs := yamlDocs(t, "../../deploy/gke/spangate.yaml")
	byKind := map[string]map[string]any{}
	for _, d := range docs {
		byKind[d["kind"].(string)] = d
	}
	for _, k := range []string{"ServiceAccount", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy"} {
		if byKind[k] == nil {
			t.Errorf("no %s", k)
		}
	}
	if dig(byKind["ServiceAccount"], "metadata", "annotations", "iam.gke.io/gcp-service-account") == nil {
		t.Error("the ServiceAccount has no Workload Identity binding")
	}
	pod := dig(byKind["Deployment"], "spec", "template", "spec")
	if dig(pod, "serviceAccountName") != dig(byKind["ServiceAccount"], "metadata", "name") {
		t.Error("the pods do not run as the ServiceAccount")
	}
	c := dig(pod, "containers", 0)
	args, _ := dig(c, "args").([]any)
	mounts := containerMounts(c)
	if len(args) != 3 || args[0] != "serve" || !underMount(args[2].(string), mounts) {
		t.Fatalf("args = %v, mounts %v", args, mounts)
	}
	cfg := loadDeployConfig(t, "../../deploy/gke/config.yaml")
	ports := map[string]string{}
	for _, p := range dig(c, "ports").([]any) {
		ports[dig(p, "name").(string)] = itoa(dig(p, "containerPort"))
	}
	if !strings.HasSuffix(cfg.Listen, ":"+ports["http"]) || !strings.HasSuffix(cfg.AdminListen, ":"+ports["admin"]) {
		t.Errorf("ports %v do not match listen %s and admin_listen %s", ports, cfg.Listen, cfg.AdminListen)
	}
	if dig(c, "readinessProbe", "httpGet", "path") != "/readyz" || dig(c, "readinessProbe", "httpGet", "port") != "admin" {
		t.Error("readiness must be /readyz on the admin port")
	}
	if dig(c, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Error("liveness must be /healthz")
	}
	for _, p := range dig(byKind["Service"], "spec", "ports").([]any) {
		if dig(p, "targetPort") == "admin" || itoa(dig(p, "targetPort")) == ports["admin"] {
			t.Error("the Service exposes the admin port")
		}
	}
	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("the pod may run as root")
	}
	for _, k := range cfg.SessionKeys {
		if !underMount(k.File, mounts) {
			t.Errorf("session key %s is not mounted", k.File)
		}
	}
}

// TestDeployTerraform parses the Workload Identity Federation module and
// checks that it is formatted as terraform fmt would; when terraform is
// installed, terraform fmt -check runs too. Nothing is applied.
func TestDeployTerraform(t *testing.T) {
	files, err := filepath.Glob("../../deploy/terraform/wif/*.tf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files: %v", err)
	}
	p := hclparse.NewParser()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, diags := p.ParseHCL(src, f); diags.HasErrors() {
			t.Errorf("%s: %s", f, diags.Error())
		}
		if !bytes.Equal(hclwrite.Format(src), src) {
			t.Errorf("%s is not formatted (terraform fmt)", f)
		}
	}
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Log("terraform is not installed: checked with the HCL parser only")
		return
	}
	out, err := exec.CommandContext(t.Context(), tf, "fmt", "-check", "-diff", "../../deploy/terraform/wif").CombinedOutput()
	if err != nil {
		t.Errorf("terraform fmt -check: %v\n%s", err, out)
	}
}

func itoa(v any) string {
	switch n := v.(type) {
	case int:
		return strconv.Itoa(n)
	case string:
		return n
	}
	return ""
}
