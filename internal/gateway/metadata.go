package gateway

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/spangate/spangate"
)

// Request headers that carry the run metadata a CI system reports (see
// spangate.RunMetadata). The client sets them on every request; the gateway
// records them as reported, next to the verified claims, and never uses them
// to authorize.
const (
	HeaderRunCI          = "Spangate-Run-Ci"
	HeaderRunCommit      = "Spangate-Run-Commit"
	HeaderRunBuild       = "Spangate-Run-Build"
	HeaderRunPipeline    = "Spangate-Run-Pipeline"
	HeaderRunRepository  = "Spangate-Run-Repository"
	HeaderRunBranch      = "Spangate-Run-Branch"
	HeaderRunEnvironment = "Spangate-Run-Environment"
	HeaderRunPullRequest = "Spangate-Run-Pull-Request"
	HeaderRunActor       = "Spangate-Run-Actor"
)

// MaxRunValueLen is the longest run metadata value recorded, in bytes;
// longer values are cut at a character boundary.
const MaxRunValueLen = 256

// runFields pairs each header with its field of spangate.RunMetadata.
func runFields(md *spangate.RunMetadata) []struct {
	header string
	field  *string
} {
	return []struct {
		header string
		field  *string
	}{
		{HeaderRunCI, &md.CI},
		{HeaderRunCommit, &md.Commit},
		{HeaderRunBuild, &md.Build},
		{HeaderRunPipeline, &md.Pipeline},
		{HeaderRunRepository, &md.Repository},
		{HeaderRunBranch, &md.Branch},
		{HeaderRunEnvironment, &md.Environment},
		{HeaderRunPullRequest, &md.PullRequest},
		{HeaderRunActor, &md.Actor},
	}
}

// SetRunMetadata sets the run metadata headers of h from md, leaving out
// empty values. The client calls it on every request.
func SetRunMetadata(h http.Header, md spangate.RunMetadata) {
	for _, f := range runFields(&md) {
		if *f.field != "" {
			h.Set(f.header, *f.field)
		}
	}
}

// RunMetadataFromHeader reads the run metadata headers of h. Values are
// trimmed, stripped of control characters and cut to MaxRunValueLen bytes.
func RunMetadataFromHeader(h http.Header) spangate.RunMetadata {
	var md spangate.RunMetadata
	for _, f := range runFields(&md) {
		*f.field = cleanValue(h.Get(f.header))
	}
	return md
}

// cleanValue makes a reported value safe to record and display.
func cleanValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > MaxRunValueLen {
		s = s[:MaxRunValueLen]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
