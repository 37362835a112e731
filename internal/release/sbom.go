package release

import (
	"cmp"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spangate/spangate"
)

// The CycloneDX 1.5 JSON subset a bill of materials of Go modules needs.
type (
	cdxBOM struct {
		BOMFormat    string         `json:"bomFormat"`
		SpecVersion  string         `json:"specVersion"`
		SerialNumber string         `json:"serialNumber"`
		Version      int            `json:"version"`
		Metadata     cdxMetadata    `json:"metadata"`
		Components   []CDXComponent `json:"components"`
	}
	cdxMetadata struct {
		Timestamp string       `json:"timestamp"`
		Tools     cdxTools     `json:"tools"`
		Component CDXComponent `json:"component"`
	}
	cdxTools struct {
		Components []CDXComponent `json:"components"`
	}
	// CDXComponent is one module (or the application itself).
	CDXComponent struct {
		Type       string        `json:"type"`
		BOMRef     string        `json:"bom-ref,omitempty"`
		Name       string        `json:"name"`
		Version    string        `json:"version,omitempty"`
		PURL       string        `json:"purl,omitempty"`
		Properties []cdxProperty `json:"properties,omitempty"`
	}
	cdxProperty struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
)

// ReadSBOM returns the library components of a bill of materials that
// writeSBOM wrote.
func ReadSBOM(path string) ([]CDXComponent, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, spangate.Errorf(spangate.NotFound, "read SBOM: %w", err)
	}
	var bom cdxBOM
	if err := json.Unmarshal(data, &bom); err != nil {
		return nil, spangate.Errorf(spangate.Invalid, "%s is not CycloneDX JSON: %w", path, err)
	}
	if bom.BOMFormat != "CycloneDX" {
		return nil, spangate.Errorf(spangate.Invalid, "%s: bomFormat %q, want CycloneDX", path, bom.BOMFormat)
	}
	return bom.Components, nil
}

// writeSBOM writes a CycloneDX bill of materials of the Go modules linked
// into the binaries, read from their build info (so it lists exactly what
// was linked, not what go.mod requires).
func writeSBOM(path string, opts Options, binaries map[Target]string) error {
	mods := map[string]CDXComponent{}
	var goVersion, mainPath string
	for t, bin := range binaries {
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			return spangate.Errorf(spangate.Internal, "read the build info of the %s binary: %w", t, err)
		}
		goVersion, mainPath = bi.GoVersion, bi.Main.Path
		for _, d := range bi.Deps {
			m := d
			if d.Replace != nil {
				m = d.Replace
			}
			purl := "pkg:golang/" + m.Path + "@" + m.Version
			c, ok := mods[purl]
			if !ok {
				c = CDXComponent{Type: "library", BOMRef: purl, Name: m.Path, Version: m.Version, PURL: purl}
				if m.Sum != "" {
					c.Properties = append(c.Properties, cdxProperty{Name: "go:module:sum", Value: m.Sum})
				}
				if d.Replace != nil {
					c.Properties = append(c.Properties, cdxProperty{Name: "go:module:replaces", Value: d.Path + "@" + d.Version})
				}
			}
			c.Properties = appendPlatform(c.Properties, t)
			mods[purl] = c
		}
	}
	comps := make([]CDXComponent, 0, len(mods))
	for _, c := range mods {
		comps = append(comps, c)
	}
	slices.SortFunc(comps, func(a, b CDXComponent) int { return cmp.Compare(a.PURL, b.PURL) })
	self := "pkg:golang/" + mainPath + "@" + opts.Version
	bom := cdxBOM{
		BOMFormat:    "CycloneDX",
		SpecVersion:  "1.5",
		SerialNumber: serial(opts.Version, opts.Commit),
		Version:      1,
		Metadata: cdxMetadata{
			Timestamp: opts.Date.UTC().Format(time.RFC3339),
			Tools:     cdxTools{Components: []CDXComponent{{Type: "application", Name: "spangate release", Version: opts.Version}}},
			Component: CDXComponent{Type: "application", BOMRef: self, Name: mainPath, Version: opts.Version, PURL: self,
				Properties: []cdxProperty{{Name: "go:toolchain", Value: goVersion}, {Name: "vcs:revision", Value: opts.Commit}}},
		},
		Components: comps,
	}
	data, err := json.MarshalIndent(bom, "", "  ")
	if err != nil {
		return spangate.Errorf(spangate.Internal, "encode SBOM: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return spangate.Errorf(spangate.Internal, "write SBOM: %w", err)
	}
	return nil
}

// appendPlatform records that a module is linked into the binary of t.
func appendPlatform(props []cdxProperty, t Target) []cdxProperty {
	p := cdxProperty{Name: "go:platform", Value: t.String()}
	if slices.Contains(props, p) {
		return props
	}
	props = append(props, p)
	slices.SortStableFunc(props, func(a, b cdxProperty) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Value, b.Value))
	})
	return props
}

// serial derives the BOM's serial number from the version and commit, so
// that the same release always gets the same one (an RFC 4122 version-5
// style UUID of their SHA-256).
func serial(version, commit string) string {
	h := sha256.Sum256([]byte("spangate\x00" + version + "\x00" + commit))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
