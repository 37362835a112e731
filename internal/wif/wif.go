// Package wif writes Google Workload Identity Federation credential
// configurations for spangate's direct mode: an external_account file whose
// subject token is the CI job's own OIDC ID token, which Google's auth
// libraries exchange at the Security Token Service and then trade for a
// short-lived access token of a service account (impersonation). No key is
// stored anywhere.
//
// It also says what to configure on the workload identity provider: the
// attribute mapping and an attribute condition keyed on claims a push cannot
// forge, and the IAM binding that lets the federated identity impersonate
// the service account.
//
// Security caveat: an external_account file names the URLs the CI token is
// sent to. A file from an untrusted source can send the token elsewhere, so
// CheckCredentials refuses endpoints outside googleapis.com (loopback is
// allowed, for tests and local fakes).
package wif

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/spangate/spangate"
)

// Google's endpoints and the token types of the exchange.
const (
	DefaultSTSURL     = "https://sts.googleapis.com/v1/token"
	DefaultIAMURL     = "https://iamcredentials.googleapis.com"
	SubjectTokenJWT   = "urn:ietf:params:oauth:token-type:jwt"
	CloudPlatformRole = "https://www.googleapis.com/auth/cloud-platform"
)

// The CI systems a configuration can be written for.
const (
	Bitbucket = "bitbucket"
	GitHub    = "github"
	GitLab    = "gitlab"
)

// Options describe the configuration to write.
type Options struct {
	// Provider is Bitbucket, GitHub or GitLab.
	Provider string
	// PoolProvider is the provider's full resource name,
	// //iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/Q.
	PoolProvider string
	// ServiceAccount is the email of the service account to impersonate.
	ServiceAccount string
	// TokenFile is where a Bitbucket or GitLab step writes its token for
	// the auth library to read; "" means DefaultTokenFile.
	TokenFile string
	// Lifetime is the impersonated token's lifetime in seconds; 0 leaves
	// Google's default (3600).
	Lifetime int
	// Repository and Environment, when set, are written into the attribute
	// condition: the Bitbucket repository and deployment environment
	// UUIDs, the GitHub repository ID and environment name, the GitLab
	// project ID and environment name.
	Repository  string
	Environment string
	// STSURL and IAMURL replace Google's endpoints (tests, Private Service
	// Connect); "" means the defaults.
	STSURL string
	IAMURL string
	// LookupEnv reads the job's environment: GitHub's token request URL
	// and token are known only inside the job.
	LookupEnv func(string) (string, bool)
}

// DefaultTokenFile is where the examples write a step's OIDC token.
const DefaultTokenFile = "/tmp/spangate-oidc-token"

// Pool is a parsed provider resource name.
type Pool struct {
	ProjectNumber, Pool, Provider string
}

// ParsePoolProvider parses a workload identity provider's full resource
// name, with hints for the usual mistakes.
func ParsePoolProvider(s string) (Pool, error) {
	const prefix = "//iam.googleapis.com/"
	bad := func(why string) error {
		return spangate.Errorf(spangate.Invalid, "--pool-provider %q: %s", s, why).
			WithHint("give the provider's full resource name, //iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER (gcloud iam workload-identity-pools providers describe PROVIDER --workload-identity-pool=POOL --location=global --format='value(name)' prints it without the //iam.googleapis.com/ prefix)")
	}
	rest, ok := strings.CutPrefix(strings.TrimPrefix(s, "https:"), prefix)
	if !ok {
		return Pool{}, bad("it does not start with " + prefix)
	}
	p := strings.Split(rest, "/")
	if len(p) == 6 && p[4] == "workloadIdentityPools" {
		return Pool{}, bad("it names a pool, not a provider: add /providers/PROVIDER")
	}
	if len(p) != 8 || p[0] != "projects" || p[2] != "locations" || p[3] != "global" || p[4] != "workloadIdentityPools" || p[6] != "providers" {
		return Pool{}, bad("it is not projects/N/locations/global/workloadIdentityPools/P/providers/Q")
	}
	for _, c := range p[1] {
		if c < '0' || c > '9' {
			return Pool{}, bad("the project must be given by its number, not its ID (gcloud projects describe PROJECT_ID --format='value(projectNumber)')")
		}
	}
	if p[5] == "" || p[7] == "" {
		return Pool{}, bad("the pool or provider ID is empty")
	}
	return Pool{ProjectNumber: p[1], Pool: p[5], Provider: p[7]}, nil
}

// Audience returns the audience of the STS exchange: the provider's full
// resource name.
func (p Pool) Audience() string {
	return fmt.Sprintf("//iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/%s/providers/%s", p.ProjectNumber, p.Pool, p.Provider)
}

// TokenAudience returns the aud the CI token needs when the provider lists
// no allowed audiences: the resource name with https: in front.
func (p Pool) TokenAudience() string { return "https:" + p.Audience() }

// CredentialConfig is the external_account credential configuration file,
// in the format Google's auth libraries read from
// GOOGLE_APPLICATION_CREDENTIALS.
type CredentialConfig struct {
	Type                           string                 `json:"type"`
	Audience                       string                 `json:"audience"`
	SubjectTokenType               string                 `json:"subject_token_type"`
	TokenURL                       string                 `json:"token_url"`
	ServiceAccountImpersonationURL string                 `json:"service_account_impersonation_url"`
	ServiceAccountImpersonation    *ImpersonationSettings `json:"service_account_impersonation,omitempty"`
	CredentialSource               CredentialSource       `json:"credential_source"`
}

// ImpersonationSettings tune the impersonated token.
type ImpersonationSettings struct {
	TokenLifetimeSeconds int `json:"token_lifetime_seconds"`
}

// CredentialSource says where the library reads the subject token: a file
// or a URL.
type CredentialSource struct {
	File    string            `json:"file,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Format  Format            `json:"format"`
}

// Format says how to read the subject token: text, or a JSON field.
type Format struct {
	Type                  string `json:"type"`
	SubjectTokenFieldName string `json:"subject_token_field_name,omitempty"`
}

// Setup is what to configure around a credential configuration.
type Setup struct {
	// Config is the credential configuration.
	Config CredentialConfig
	// Pool is the parsed provider.
	Pool Pool
	// TokenAudience is the aud the CI token must carry, unless the
	// provider's allowed audiences list the CI's default.
	TokenAudience string
	// AttributeMapping and AttributeCondition are the provider's settings.
	AttributeMapping   []string
	AttributeCondition string
	// Member is the principalSet to grant roles/iam.workloadIdentityUser
	// on the service account.
	Member string
	// Placeholders reports whether the condition holds placeholders for
	// values not given.
	Placeholders bool
	// PipelineLines are the lines the pipeline needs before spangate runs.
	PipelineLines []string
}

// Configure builds the credential configuration and the provider settings
// for opts. For GitHub it reads ACTIONS_ID_TOKEN_REQUEST_URL and
// ACTIONS_ID_TOKEN_REQUEST_TOKEN through opts.LookupEnv: run it inside the
// job, and keep the file private (it holds the job's request token).
func Configure(opts Options) (*Setup, error) {
	pool, err := ParsePoolProvider(opts.PoolProvider)
	if err != nil {
		return nil, err
	}
	sa := opts.ServiceAccount
	if at := strings.IndexByte(sa, '@'); at <= 0 || !strings.HasSuffix(sa, ".gserviceaccount.com") {
		return nil, spangate.Errorf(spangate.Invalid, "--service-account %q is not a service account email", sa).
			WithHint("give NAME@PROJECT_ID.iam.gserviceaccount.com")
	}
	if opts.Lifetime < 0 || opts.Lifetime > 43200 {
		return nil, spangate.Errorf(spangate.Invalid, "--lifetime %ds is outside 0..43200", opts.Lifetime).
			WithHint("Google allows up to 3600 s, or 43200 s with the iam.allowServiceAccountCredentialLifetimeExtension policy")
	}
	sts, iam := opts.STSURL, strings.TrimSuffix(opts.IAMURL, "/")
	if sts == "" {
		sts = DefaultSTSURL
	}
	if iam == "" {
		iam = DefaultIAMURL
	}
	s := &Setup{Pool: pool, TokenAudience: pool.TokenAudience()}
	s.Config = CredentialConfig{
		Type:                           "external_account",
		Audience:                       pool.Audience(),
		SubjectTokenType:               SubjectTokenJWT,
		TokenURL:                       sts,
		ServiceAccountImpersonationURL: iam + "/v1/projects/-/serviceAccounts/" + sa + ":generateAccessToken",
	}
	if opts.Lifetime > 0 {
		s.Config.ServiceAccountImpersonation = &ImpersonationSettings{TokenLifetimeSeconds: opts.Lifetime}
	}
	file := opts.TokenFile
	if file == "" {
		file = DefaultTokenFile
	}
	placeholder := func(v, name string) string {
		if v == "" {
			s.Placeholders = true
			return "<" + name + ">"
		}
		return v
	}
	base := "principalSet://iam.googleapis.com/projects/" + pool.ProjectNumber + "/locations/global/workloadIdentityPools/" + pool.Pool
	switch opts.Provider {
	case Bitbucket:
		s.Config.CredentialSource = CredentialSource{File: file, Format: Format{Type: "text"}}
		repo, env := placeholder(opts.Repository, "REPOSITORY_UUID"), placeholder(opts.Environment, "DEPLOYMENT_ENVIRONMENT_UUID")
		s.AttributeMapping = []string{"google.subject=assertion.sub", "attribute.workspaceuuid=assertion.workspaceUuid",
			"attribute.repositoryuuid=assertion.repositoryUuid", "attribute.deploymentenvironmentuuid=assertion.deploymentEnvironmentUuid"}
		s.AttributeCondition = fmt.Sprintf("attribute.repositoryuuid == '%s' && attribute.deploymentenvironmentuuid == '%s'", repo, env)
		s.Member = base + "/attribute.deploymentenvironmentuuid/" + env
		s.PipelineLines = []string{
			`printf '%s' "$BITBUCKET_STEP_OIDC_TOKEN" > ` + file,
			"export GOOGLE_APPLICATION_CREDENTIALS=<this file>",
		}
	case GitLab:
		s.Config.CredentialSource = CredentialSource{File: file, Format: Format{Type: "text"}}
		proj, env := placeholder(opts.Repository, "PROJECT_ID"), placeholder(opts.Environment, "ENVIRONMENT")
		s.AttributeMapping = []string{"google.subject=assertion.sub", "attribute.project_id=assertion.project_id",
			"attribute.ref_protected=assertion.ref_protected", "attribute.environment=assertion.environment",
			"attribute.environment_protected=assertion.environment_protected"}
		s.AttributeCondition = fmt.Sprintf("attribute.project_id == '%s' && attribute.ref_protected == 'true' && attribute.environment == '%s' && attribute.environment_protected == 'true'", proj, env)
		s.Member = base + "/attribute.project_id/" + proj
		s.PipelineLines = []string{
			"id_tokens: { GOOGLE_ID_TOKEN: { aud: " + s.TokenAudience + " } }",
			`printf '%s' "$GOOGLE_ID_TOKEN" > ` + file,
			"export GOOGLE_APPLICATION_CREDENTIALS=<this file>",
		}
	case GitHub:
		lookup := opts.LookupEnv
		if lookup == nil {
			lookup = func(string) (string, bool) { return "", false }
		}
		reqURL, _ := lookup("ACTIONS_ID_TOKEN_REQUEST_URL")
		reqToken, _ := lookup("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
		if reqURL == "" || reqToken == "" {
			return nil, spangate.Errorf(spangate.Invalid, "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set").
				WithHint("run spangate wif config --provider github inside the job, and give the job permissions: id-token: write")
		}
		u, err := url.Parse(reqURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, spangate.Errorf(spangate.Invalid, "ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL")
		}
		q := u.Query()
		q.Set("audience", s.TokenAudience)
		u.RawQuery = q.Encode()
		s.Config.CredentialSource = CredentialSource{URL: u.String(), Headers: map[string]string{"Authorization": "Bearer " + reqToken},
			Format: Format{Type: "json", SubjectTokenFieldName: "value"}}
		repo, env := placeholder(opts.Repository, "REPOSITORY_ID"), placeholder(opts.Environment, "ENVIRONMENT")
		s.AttributeMapping = []string{"google.subject=assertion.sub", "attribute.repository_id=assertion.repository_id",
			"attribute.repository_owner_id=assertion.repository_owner_id", "attribute.environment=assertion.environment"}
		s.AttributeCondition = fmt.Sprintf("assertion.repository_id == '%s' && assertion.environment == '%s'", repo, env)
		s.Member = base + "/attribute.repository_id/" + repo
		s.PipelineLines = []string{
			"permissions: { id-token: write }",
			"spangate wif config --provider github … --output \"$RUNNER_TEMP/gcp-wif.json\"",
			"echo \"GOOGLE_APPLICATION_CREDENTIALS=$RUNNER_TEMP/gcp-wif.json\" >> \"$GITHUB_ENV\"",
		}
	default:
		return nil, spangate.Errorf(spangate.Invalid, "--provider %q is not one of bitbucket, github, gitlab", opts.Provider).
			WithHint("pass --provider bitbucket, github or gitlab")
	}
	return s, nil
}

// JSON returns the credential configuration file's content.
func (s *Setup) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(s.Config, "", "  ")
	if err != nil {
		return nil, spangate.Errorf(spangate.Internal, "encode credential configuration: %w", err)
	}
	return append(b, '\n'), nil
}

// CheckCredentials checks a credential file named by
// GOOGLE_APPLICATION_CREDENTIALS before a Google library reads it: an
// external_account configuration may send the CI token only to
// googleapis.com endpoints (or loopback). Other credential types pass.
func CheckCredentials(name string, b []byte) error {
	var c struct {
		Type                           string `json:"type"`
		TokenURL                       string `json:"token_url"`
		ServiceAccountImpersonationURL string `json:"service_account_impersonation_url"`
		TokenInfoURL                   string `json:"token_info_url"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return spangate.Errorf(spangate.Invalid, "%s: not a JSON credential file: %w", name, err).
			WithHint("point GOOGLE_APPLICATION_CREDENTIALS at the file spangate wif config wrote")
	}
	if c.Type != "external_account" {
		return nil
	}
	for field, raw := range map[string]string{"token_url": c.TokenURL, "service_account_impersonation_url": c.ServiceAccountImpersonationURL, "token_info_url": c.TokenInfoURL} {
		if raw == "" {
			continue
		}
		if !trustedEndpoint(raw) {
			return spangate.Errorf(spangate.Invalid, "%s: %s %q is not a Google endpoint; the CI token would be sent there", name, field, raw).
				WithHint("regenerate the file with spangate wif config, which writes sts.googleapis.com and iamcredentials.googleapis.com")
		}
	}
	return nil
}

func trustedEndpoint(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	if host == "localhost" {
		return true
	}
	return u.Scheme == "https" && (host == "googleapis.com" || strings.HasSuffix(host, ".googleapis.com"))
}
