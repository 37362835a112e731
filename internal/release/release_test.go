package release_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/spangate/spangate/internal/release"
)

// TestReleaseLinuxAMD64 builds a release for linux/amd64 the way the
// release command does, then reads everything back as a user would: the
// checksums verify, the SBOM lists the modules go.mod resolves, and the
// image, read with go-containerregistry, has the entrypoint, user and
// labels, and its binary prints the stamped version.
func TestReleaseLinuxAMD64(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles spangate")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("the image's shell, Debian's busybox-static, is not installed (apt-get install busybox-static; .ci/run installs it)")
	}
	out := t.TempDir()
	opts := release.Options{
		Version:   "v0.0.0-test",
		Commit:    "0123456789abcdef0123456789abcdef01234567",
		Date:      time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC),
		Source:    "https://github.com/spangate/spangate",
		Targets:   []release.Target{{OS: "linux", Arch: "amd64"}},
		ModuleDir: "../..",
		OutDir:    out,
		Image:     true,
	}
	res, err := release.Build(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, a := range res.Artifacts {
		kinds[a.Kind]++
	}
	if kinds["binary"] != 1 || kinds["sbom"] != 1 || kinds["checksums"] != 1 || kinds["image-tarball"] != 2 || kinds["image-layout"] != 2 {
		t.Errorf("artifacts by kind = %v", kinds)
	}

	checked, err := release.VerifyChecksums(out)
	if err != nil {
		t.Fatal(err)
	}
	bin := release.BinaryName(opts.Version, opts.Targets[0])
	if !slices.Contains(checked, bin) || !slices.Contains(checked, release.ImageTarball(release.ImageMain, opts.Version, opts.Targets[0])) {
		t.Errorf("SHA256SUMS covers %v", checked)
	}
	// A changed byte is caught.
	f, err := os.OpenFile(filepath.Join(out, bin), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0})
	f.Close()
	if _, err := release.VerifyChecksums(out); err == nil || !strings.Contains(err.Error(), bin) {
		t.Errorf("a changed binary verified: %v", err)
	}

	comps, err := release.ReadSBOM(filepath.Join(out, "spangate_v0.0.0-test.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []string{"cloud.google.com/go/spanner", "github.com/coreos/go-oidc/v3"} {
		want := goListVersion(t, mod)
		i := slices.IndexFunc(comps, func(c release.CDXComponent) bool { return c.Name == mod })
		if i < 0 {
			t.Errorf("SBOM does not list %s", mod)
			continue
		}
		if comps[i].Version != want || comps[i].PURL != "pkg:golang/"+mod+"@"+want {
			t.Errorf("SBOM lists %s as %+v, want version %s", mod, comps[i], want)
		}
	}

	idx, err := layout.ImageIndexFromPath(filepath.Join(out, release.ImageLayoutDir(release.ImageMain, opts.Version)))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Platform == nil || im.Manifests[0].Platform.Architecture != "amd64" {
		t.Fatalf("index manifests = %+v", im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/spangate"}) || cf.Config.User != "65532:65532" || cf.OS != "linux" {
		t.Errorf("config = %+v", cf.Config)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.source":   opts.Source,
		"org.opencontainers.image.version":  opts.Version,
		"org.opencontainers.image.revision": opts.Commit,
	} {
		if cf.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
		}
	}
	// The docker archive holds the same image.
	tb, err := tarball.ImageFromPath(filepath.Join(out, release.ImageTarball(release.ImageMain, opts.Version, opts.Targets[0])), nil)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.ConfigName()
	d2, _ := tb.ConfigName()
	if d1 != d2 {
		t.Errorf("docker archive config %s, OCI layout config %s", d2, d1)
	}

	// The pipe's image: the same files, its entry script as the entrypoint.
	pidx, err := layout.ImageIndexFromPath(filepath.Join(out, release.ImageLayoutDir(release.ImagePipe, opts.Version)))
	if err != nil {
		t.Fatal(err)
	}
	pim, err := pidx.IndexManifest()
	if err != nil || len(pim.Manifests) != 1 {
		t.Fatalf("pipe index: %v %v", pim, err)
	}
	pipe, err := pidx.Image(pim.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	pcf, err := pipe.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pcf.Config.Entrypoint, []string{"/bin/sh", release.PipeScript}) || pcf.Config.User != cf.Config.User {
		t.Errorf("pipe config = %+v", pcf.Config)
	}
	pfiles := extract(t, pipe)
	script, err := os.ReadFile("../../integrations/bitbucket-pipe/pipe.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pfiles[strings.TrimPrefix(release.PipeScript, "/")], script) || pfiles["spangate"] == nil {
		t.Error("the pipe image lacks its entry script or the binary")
	}

	files := extract(t, img)
	for _, name := range []string{"spangate", "bin/busybox", "etc/ssl/certs/ca-certificates.crt", "etc/passwd"} {
		if _, ok := files[name]; !ok {
			t.Errorf("image lacks /%s", name)
		}
	}
	if !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd = %q", files["etc/passwd"])
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return
	}
	exe := filepath.Join(t.TempDir(), "spangate")
	if err := os.WriteFile(exe, files["spangate"], 0o755); err != nil {
		t.Fatal(err)
	}
	outb, err := exec.CommandContext(t.Context(), exe, "version", "--format", "json").Output()
	if err != nil {
		t.Fatalf("the image's binary: %v", err)
	}
	var v struct{ Version, Commit, Date string }
	if err := json.Unmarshal(outb, &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != opts.Version || v.Commit != opts.Commit || v.Date != "2026-12-06T08:00:00Z" {
		t.Errorf("the image's binary says %+v", v)
	}
	// The image's shell runs a CI step's script.
	sh := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(sh, files["bin/busybox"], 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), sh, "sh", "-c", "echo $((6*7)) | sha256sum").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "084c799cd551dd1d8d5c5f9a5d593b2e931f5e36122ee5c793c1d08a19839cc0") {
		t.Errorf("the image's sh: %v %s", err, out)
	}
}

// extract returns the regular files of img's flattened filesystem.
func extract(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, "/")] = b
		}
	}
}

func goListVersion(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Version}}", mod).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -m %s: %s", mod, ee.Stderr)
		}
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
