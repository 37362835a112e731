package scan

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// The rules of secret findings.
const (
	RuleServiceAccountKey = "service-account-key"
	RulePrivateKey        = "private-key"
	RuleUserCredential    = "user-refresh-token"
	RuleAPIKey            = "google-api-key"
	RuleKeyFileUse        = "service-account-key-use"
	RuleSuspectVariable   = "suspect-credential-variable"
)

// secret is a credential found in some text. value is what the fingerprint
// is computed from; it is never shown.
type secret struct {
	rule   string
	what   string
	offset int
	value  string
}

// fingerprint is a redacted, stable name for a secret value: enough to tell
// two findings of the same key apart, nothing to recover it from.
func fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// findSecrets finds long-lived Google credentials and private keys in
// text. A service-account key is reported once, not also as the PEM key it
// holds.
func findSecrets(text string) []secret {
	var out []secret
	saKey := strings.Contains(text, "service_account") && strings.Contains(text, "private_key")
	if saKey {
		at := strings.Index(text, `"private_key"`)
		if at < 0 {
			at = strings.Index(text, "private_key")
		}
		out = append(out, secret{rule: RuleServiceAccountKey, what: "a Google service-account key (JSON with type service_account and private_key)",
			offset: at, value: pemBody(text[at:])})
	}
	if strings.Contains(text, "authorized_user") && strings.Contains(text, "refresh_token") {
		at := strings.Index(text, "refresh_token")
		out = append(out, secret{rule: RuleUserCredential, what: "a Google user credential (type authorized_user with a refresh_token)",
			offset: at, value: text[at:min(len(text), at+200)]})
	}
	if !saKey {
		for from := 0; ; {
			i := strings.Index(text[from:], "-----BEGIN ")
			if i < 0 {
				break
			}
			i += from
			end := strings.Index(text[i:], "-----\n")
			header := text[i:min(len(text), i+60)]
			if end > 0 && end < 60 {
				header = text[i : i+end]
			}
			from = i + len("-----BEGIN ")
			if !strings.Contains(header, "PRIVATE KEY") {
				continue
			}
			out = append(out, secret{rule: RulePrivateKey, what: "a PEM private key", offset: i, value: pemBody(text[i:])})
		}
	}
	for from := 0; ; {
		i := strings.Index(text[from:], "AIza")
		if i < 0 {
			break
		}
		i += from
		from = i + 4
		if i+39 <= len(text) && allKeyChars(text[i+4:i+39]) && (i+39 == len(text) || !isKeyChar(text[i+39])) {
			out = append(out, secret{rule: RuleAPIKey, what: "a Google API key", offset: i, value: text[i : i+39]})
		}
	}
	return out
}

// findSecretsInValue is findSecrets for one variable or YAML value, which
// may hold a key encoded in base64 as pipelines often store them.
func findSecretsInValue(v string) []secret {
	found := findSecrets(v)
	if len(found) > 0 {
		return found
	}
	for _, run := range base64Runs(v) {
		dec, err := base64.StdEncoding.DecodeString(run)
		if err != nil {
			dec, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(run, "="))
		}
		if err != nil {
			continue
		}
		for _, f := range findSecrets(string(dec)) {
			f.what += ", base64-encoded"
			f.offset = 0
			found = append(found, f)
		}
	}
	return found
}

// base64Runs returns the runs of at least 100 base64 characters in v: a
// key file encoded into a variable or a script line.
func base64Runs(v string) []string {
	var out []string
	start := -1
	for i := 0; i <= len(v); i++ {
		if i < len(v) && isBase64Char(v[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= 100 {
			out = append(out, v[start:i])
		}
		start = -1
	}
	return out
}

func isBase64Char(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

// pemBody returns the key material from a PEM header on (or the rest of
// the text when there is no END line), for the fingerprint.
func pemBody(s string) string {
	if end := strings.Index(s, "-----END"); end > 0 {
		return s[:end]
	}
	return s[:min(len(s), 4096)]
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func allKeyChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isKeyChar(s[i]) {
			return false
		}
	}
	return true
}

// suspectVariableName reports whether a variable's name says it holds a
// Google key file, for variables whose value scan cannot see (secured).
func suspectVariableName(name string) bool {
	n := strings.ToUpper(name)
	google := false
	for _, w := range []string{"GOOGLE", "GCP", "GCLOUD", "GCE", "GKE", "SPANNER", "FIREBASE"} {
		if strings.Contains(n, w) {
			google = true
		}
	}
	if !google || n == "GOOGLE_APPLICATION_CREDENTIALS" || strings.Contains(n, "PROJECT") {
		return false
	}
	for _, w := range []string{"SERVICE_ACCOUNT", "SA_KEY", "SERVICE_KEY", "CREDENTIALS", "KEYFILE", "KEY_FILE", "KEY_JSON", "JSON_KEY", "_KEY"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// lineAt returns the 1-based line of offset in text.
func lineAt(text string, offset int) int {
	if offset < 0 {
		return 1
	}
	return 1 + strings.Count(text[:min(offset, len(text))], "\n")
}
