package release

import (
	"archive/tar"
	"bytes"
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

// ImageLayoutDir is the OCI layout directory of a release's image index.
func ImageLayoutDir(version string) string { return "spangate_" + version + "_oci" }

// ImageTarball is the docker-archive file of one platform's image.
func ImageTarball(version string, t Target) string {
	return "spangate_" + version + "_image_" + t.OS + "_" + t.Arch + ".tar"
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
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var arts []Artifact
	for _, t := range targets {
		img, err := buildImage(opts, t, binaries[t], certs)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: t.OS, Architecture: t.Arch},
		}})
		tag, err := name.NewTag("spangate:" + tagSafe(opts.Version))
		if err != nil {
			return nil, spangate.Errorf(spangate.Invalid, "image tag for version %q: %w", opts.Version, err)
		}
		file := ImageTarball(opts.Version, t)
		if err := tarball.WriteToFile(filepath.Join(opts.OutDir, file), tag, img); err != nil {
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
	dir := ImageLayoutDir(opts.Version)
	if err := os.RemoveAll(filepath.Join(opts.OutDir, dir)); err != nil {
		return nil, spangate.Errorf(spangate.Internal, "clear %s: %w", dir, err)
	}
	if _, err := layout.Write(filepath.Join(opts.OutDir, dir), idx); err != nil {
		return nil, spangate.Errorf(spangate.Internal, "write the OCI layout %s: %w", dir, err)
	}
	opts.progress("wrote %s (OCI layout: crane push %s REGISTRY/spangate:%s)", dir, dir, tagSafe(opts.Version))
	return append(arts, Artifact{Name: dir, Kind: "image-layout"}), nil
}

// buildImage makes the image of one platform from nothing: one layer with
// the binary, the CA bundle and the non-root user's files.
func buildImage(opts Options, t Target, binary string, certs []byte) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "read %s: %w", binary, err)
	}
	content, err := layerTar(opts.Date, bin, certs)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "image layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{
		Created: v1.Time{Time: opts.Date}, CreatedBy: "spangate release", Comment: "spangate binary, CA certificates, non-root user",
	}})
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "image: %w", err)
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
			"PATH=/",
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

// layerTar writes the layer's files with fixed times and owners, so that
// one commit always gives the same layer.
func layerTar(at time.Time, bin, certs []byte) ([]byte, error) {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:" + imageHome + ":/sbin/nologin\n"
	group := "root:x:0:\nnonroot:x:65532:\n"
	entries := []struct {
		name string
		mode int64
		uid  int
		data []byte // nil for a directory
	}{
		{"etc/", 0o755, 0, nil},
		{"etc/group", 0o644, 0, []byte(group)},
		{"etc/passwd", 0o644, 0, []byte(passwd)},
		{"etc/ssl/", 0o755, 0, nil},
		{"etc/ssl/certs/", 0o755, 0, nil},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, 0, certs},
		{"home/", 0o755, 0, nil},
		{strings.TrimPrefix(imageHome, "/") + "/", 0o700, imageUID, nil},
		{"spangate", 0o755, 0, bin},
		{"tmp/", 0o1777, 0, nil},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: at, Format: tar.FormatPAX}
		if e.data == nil {
			h.Typeflag = tar.TypeDir
		} else {
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
	return buf.Bytes(), nil
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
