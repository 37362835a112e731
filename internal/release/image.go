package release

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/spangate/spangate"
)

// The image's user: not root, with a home for the CLI's config and cache.
const (
	imageUID  = 65532
	imageUser = "65532:65532"
	imageHome = "/home/nonroot"
	// ImageEntrypoint is the binary's path in the image.
	ImageEntrypoint = "/spangate"
)

// The images of a release: spangate's own, and the Bitbucket Pipe's (the
// same layer, plus the pipe's entry script as its entrypoint).
const (
	ImageMain = "spangate"
	ImagePipe = "spangate-pipe"
	// PipeScript is where the Pipe's entry script lies in the image.
	PipeScript = "/pipe/pipe.sh"
)

// ImageLayoutDir is the OCI layout directory of a release's image index.
func ImageLayoutDir(image, version string) string { return image + "_" + version + "_oci" }

// ImageTarball is the docker-archive file of one platform's image.
func ImageTarball(image, version string, t Target) string {
	return image + "_" + version + "_image_" + t.OS + "_" + t.Arch + ".tar"
}

// writeImages builds one image per Linux binary, writes them under one
// index as an OCI layout directory (crane push accepts it), and each as a
// docker archive (docker load accepts it).
func writeImages(opts Options, binaries map[Target]string) ([]Artifact, error) {
	certs, err := os.ReadFile(opts.CACerts)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "read the CA bundle for the image: %w", err).
			WithHint("install Debian's ca-certificates package, or pass -ca-certs FILE")
	}
	var targets []Target
	for t := range binaries {
		if t.OS == "linux" {
			targets = append(targets, t)
		}
	}
	slices.SortFunc(targets, func(a, b Target) int { return strings.Compare(a.String(), b.String()) })
	if len(targets) == 0 {
		opts.progress("no linux target: no image")
		return nil, nil
	}
	pipeScript, err := os.ReadFile(opts.PipeScript)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "read the Bitbucket Pipe's entry script: %w", err).
			WithHint("run the release from the repository's root, or pass -module DIR")
	}
	indexes := map[string]v1.ImageIndex{
		ImageMain: mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		ImagePipe: mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
	}
	var arts []Artifact
	for _, t := range targets {
		shell, err := shellFor(opts, t)
		if err != nil {
			return nil, err
		}
		img, err := buildImage(opts, t, binaries[t], certs, shell)
		if err != nil {
			return nil, err
		}
		pipe, err := pipeImage(opts, img, pipeScript)
		if err != nil {
			return nil, err
		}
		for image, im := range map[string]v1.Image{ImageMain: img, ImagePipe: pipe} {
			indexes[image] = mutate.AppendManifests(indexes[image], mutate.IndexAddendum{Add: im, Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: t.OS, Architecture: t.Arch},
			}})
			tag, err := name.NewTag(image + ":" + tagSafe(opts.Version))
			if err != nil {
				return nil, spangate.Errorf(spangate.Invalid, "image tag for version %q: %w", opts.Version, err)
			}
			file := ImageTarball(image, opts.Version, t)
			if err := tarball.WriteToFile(filepath.Join(opts.OutDir, file), tag, im); err != nil {
				return nil, spangate.Errorf(spangate.Internal, "write %s: %w", file, err)
			}
			a, err := describe(opts.OutDir, file, "image-tarball")
			if err != nil {
				return nil, err
			}
			a.Target = &t
			arts = append(arts, a)
			opts.progress("wrote %s (docker load)", file)
		}
	}
	for _, image := range []string{ImageMain, ImagePipe} {
		dir := ImageLayoutDir(image, opts.Version)
		if err := os.RemoveAll(filepath.Join(opts.OutDir, dir)); err != nil {
			return nil, spangate.Errorf(spangate.Internal, "clear %s: %w", dir, err)
		}
		if _, err := layout.Write(filepath.Join(opts.OutDir, dir), indexes[image]); err != nil {
			return nil, spangate.Errorf(spangate.Internal, "write the OCI layout %s: %w", dir, err)
		}
		opts.progress("wrote %s (OCI layout: crane push %s REGISTRY/%s:%s)", dir, dir, image, tagSafe(opts.Version))
		arts = append(arts, Artifact{Name: dir, Kind: "image-layout"})
	}
	return arts, nil
}

// pipeImage is img with the Pipe's entry script added in a layer of its own
// and run as the entrypoint (Bitbucket runs a pipe's image as it is).
func pipeImage(opts Options, img v1.Image, script []byte) (v1.Image, error) {
	pipe, err := appendLayer(img, opts.Date, "the Bitbucket Pipe's entry script", []layerEntry{
		{name: "pipe/", mode: 0o755},
		{name: strings.TrimPrefix(PipeScript, "/"), mode: 0o755, data: script},
	})
	if err != nil {
		return nil, err
	}
	cf, err := pipe.ConfigFile()
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "pipe image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Config.Entrypoint = []string{"/bin/sh", PipeScript}
	cf.Config.Labels["org.opencontainers.image.title"] = ImagePipe
	cf.Config.Labels["org.opencontainers.image.description"] = "The spangate Bitbucket Pipe: plan and apply Cloud Spanner migrations through a spangate gateway"
	return mutate.ConfigFile(pipe, cf)
}

// shellFor reads the static busybox that gives the image of t its /bin/sh
// (CI systems run a step's script with the image's shell): the one given
// for t's architecture, else the build machine's own (Debian's
// busybox-static) when it is of that architecture.
func shellFor(opts Options, t Target) ([]byte, error) {
	path, given := opts.Shells[t.Arch]
	if !given {
		path = "/bin/busybox"
	}
	hint := fmt.Sprintf("install Debian's busybox-static for %s (on another architecture: dpkg --add-architecture %s && apt-get update && apt-get download busybox-static:%s && dpkg-deb -x busybox-static_*_%s.deb DIR) and pass -shell %s=DIR/bin/busybox", t.Arch, t.Arch, t.Arch, t.Arch, t.Arch)
	f, err := elf.Open(path)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "the image for %s needs a static busybox for its shell: %w", t, err).WithHint(hint)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[t.Arch]
	if f.Machine != want {
		return nil, spangate.Errorf(spangate.Invalid, "%s is a %s binary, not one for %s", path, f.Machine, t).WithHint(hint)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, spangate.Errorf(spangate.Invalid, "%s is linked dynamically; the image has no C library", path).WithHint(hint)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "read %s: %w", path, err)
	}
	return b, nil
}

// ShellApplets are the busybox commands linked under /bin in the image:
// what CI step scripts and the integrations' entry scripts use.
func ShellApplets() []string {
	return []string{"[", "basename", "cat", "chmod", "cp", "cut", "date", "dirname", "echo", "env", "false", "grep",
		"head", "id", "ln", "ls", "mkdir", "mktemp", "mv", "printf", "pwd", "rm", "sed", "sh", "sha256sum", "sleep",
		"sort", "tail", "tar", "tee", "test", "tr", "true", "uname", "wc", "wget", "which"}
}

// buildImage makes the image of one platform from nothing: one layer with
// the binary, the CA bundle, a static busybox for /bin/sh and the non-root
// user's files.
func buildImage(opts Options, t Target, binary string, certs, shell []byte) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "read %s: %w", binary, err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := appendLayer(base, opts.Date, "spangate binary, CA certificates, busybox shell, non-root user", baseEntries(bin, certs, shell))
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = t.OS, t.Arch, v1.Time{Time: opts.Date}
	cf.Config = v1.Config{
		Entrypoint: []string{ImageEntrypoint},
		User:       imageUser,
		WorkingDir: imageHome,
		Env: []string{
			"PATH=/bin:/",
			"HOME=" + imageHome,
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		},
		Labels: ImageLabels(opts),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "image config: %w", err)
	}
	return img, nil
}

// ImageLabels are the OCI annotations the image carries as labels.
func ImageLabels(opts Options) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "spangate",
		"org.opencontainers.image.description": "Safe, audited changes to Cloud Spanner from CI pipelines, people and agents",
		"org.opencontainers.image.version":     opts.Version,
		"org.opencontainers.image.revision":    opts.Commit,
		"org.opencontainers.image.created":     opts.Date.UTC().Format(time.RFC3339),
	}
	if opts.Source != "" {
		l["org.opencontainers.image.source"] = opts.Source
	}
	return l
}

// layerEntry is one file, directory (data nil) or symbolic link of a layer.
type layerEntry struct {
	name string
	mode int64
	uid  int
	data []byte
	link string
}

// baseEntries are the files of spangate's image: the binary, the CA
// bundle, busybox as /bin/sh with its applets, and the non-root user.
func baseEntries(bin, certs, shell []byte) []layerEntry {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:" + imageHome + ":/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	entries := []layerEntry{
		{name: "bin/", mode: 0o755},
		{name: "bin/busybox", mode: 0o755, data: shell},
	}
	for _, a := range ShellApplets() {
		entries = append(entries, layerEntry{name: "bin/" + a, mode: 0o777, link: "busybox"})
	}
	return append(entries,
		layerEntry{name: "etc/", mode: 0o755},
		layerEntry{name: "etc/group", mode: 0o644, data: []byte(group)},
		layerEntry{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		layerEntry{name: "etc/ssl/", mode: 0o755},
		layerEntry{name: "etc/ssl/certs/", mode: 0o755},
		layerEntry{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
		layerEntry{name: "home/", mode: 0o755},
		layerEntry{name: strings.TrimPrefix(imageHome, "/") + "/", mode: 0o700, uid: imageUID},
		layerEntry{name: "spangate", mode: 0o755, data: bin},
		layerEntry{name: "tmp/", mode: 0o1777},
	)
}

// appendLayer adds a layer of entries to img, written with fixed times and
// owners so that one commit always gives the same layer.
func appendLayer(img v1.Image, at time.Time, comment string, entries []layerEntry) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: at, Format: tar.FormatPAX}
		switch {
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		case e.data == nil:
			h.Typeflag = tar.TypeDir
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, spangate.Errorf(spangate.Internal, "image layer: %w", err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, spangate.Errorf(spangate.Internal, "image layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, spangate.Errorf(spangate.Internal, "image layer: %w", err)
	}
	content := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "image layer: %w", err)
	}
	out, err := mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{
		Created: v1.Time{Time: at}, CreatedBy: "spangate release", Comment: comment,
	}})
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "image: %w", err)
	}
	return out, nil
}

// tagSafe maps a version to the characters an image tag allows.
func tagSafe(v string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, v)
}
