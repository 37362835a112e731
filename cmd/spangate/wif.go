package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/wif"
)

// wifOptions are the flags of `spangate wif config`.
type wifOptions struct {
	provider, poolProvider, serviceAccount string
	output, tokenFile                      string
	repository, environment                string
	lifetime                               int
	stsURL, iamURL                         string
}

func (a *app) wifCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wif",
		Short: "Direct mode without keys: Google Workload Identity Federation for CI pipelines",
	}
	cmd.AddCommand(a.wifConfigCommand())
	return cmd
}

func (a *app) wifConfigCommand() *cobra.Command {
	var o wifOptions
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Write an external_account credential configuration that uses the pipeline's OIDC token",
		Long: `config writes the credential configuration (type external_account) that lets
direct-mode commands reach Cloud Spanner with the pipeline's own OIDC ID token
and no key: Google's auth libraries read it from GOOGLE_APPLICATION_CREDENTIALS,
exchange the token at the Security Token Service (sts.googleapis.com) and
impersonate --service-account through the IAM credentials API.

The token source is what each CI system allows:
  bitbucket, gitlab  a file (--token-file) the step writes from
                     BITBUCKET_STEP_OIDC_TOKEN or an id_tokens variable;
  github             the Actions runtime's token URL with its request token,
                     read from the job's environment: run this inside the job
                     (permissions: id-token: write) and keep --output private.

It then prints the attribute mapping and the attribute condition to set on
the workload identity provider, and the IAM binding that lets the pipeline
impersonate the service account. Give --repository and --environment to get
a condition without placeholders.`,
		Example: `  # Bitbucket: once, on your machine; commit the file (it holds no secret)
  spangate wif config --provider bitbucket \
    --pool-provider //iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/ci/providers/bitbucket \
    --service-account migrator@acme-prod.iam.gserviceaccount.com \
    --repository '{7c1e…}' --environment '{a12f…}' --output gcp-wif.json

  # GitHub: in the job
  spangate wif config --provider github --pool-provider … --service-account … --output "$RUNNER_TEMP/gcp-wif.json"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runWIFConfig(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.provider, "provider", "", "CI system: bitbucket, github or gitlab")
	f.StringVar(&o.poolProvider, "pool-provider", "", "workload identity provider: //iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/Q")
	f.StringVar(&o.serviceAccount, "service-account", "", "service account to impersonate (NAME@PROJECT.iam.gserviceaccount.com)")
	f.StringVar(&o.output, "output", "", "file to write the configuration to (default: stdout; required for github)")
	f.StringVar(&o.tokenFile, "token-file", wif.DefaultTokenFile, "bitbucket, gitlab: the file the step writes its OIDC token to")
	f.StringVar(&o.repository, "repository", "", "for the attribute condition: Bitbucket repository UUID, GitHub repository ID, GitLab project ID")
	f.StringVar(&o.environment, "environment", "", "for the attribute condition: Bitbucket deployment environment UUID, GitHub or GitLab environment name")
	f.IntVar(&o.lifetime, "lifetime", 0, "lifetime of the impersonated token in seconds (default: Google's, 3600)")
	f.StringVar(&o.stsURL, "sts-url", "", "token exchange endpoint (default "+wif.DefaultSTSURL+")")
	f.StringVar(&o.iamURL, "iam-url", "", "IAM credentials endpoint (default "+wif.DefaultIAMURL+")")
	_ = f.MarkHidden("sts-url")
	_ = f.MarkHidden("iam-url")
	for _, req := range []string{"provider", "pool-provider", "service-account"} {
		_ = cmd.MarkFlagRequired(req)
	}
	return cmd
}

func (a *app) runWIFConfig(o wifOptions) error {
	if o.provider == wif.GitHub && o.output == "" {
		return spangate.Errorf(spangate.Invalid, "--output is required with --provider github").
			WithHint("the configuration holds the job's token request credential: write it to a private file, --output \"$RUNNER_TEMP/gcp-wif.json\", never to the log")
	}
	s, err := wif.Configure(wif.Options{
		Provider: o.provider, PoolProvider: o.poolProvider, ServiceAccount: o.serviceAccount,
		TokenFile: o.tokenFile, Lifetime: o.lifetime, Repository: o.repository, Environment: o.environment,
		STSURL: o.stsURL, IAMURL: o.iamURL, LookupEnv: a.lookupEnv,
	})
	if err != nil {
		return err
	}
	b, err := s.JSON()
	if err != nil {
		return err
	}
	info := a.stdout
	if o.output == "" {
		if _, err := a.stdout.Write(b); err != nil {
			return err
		}
		info = a.stderr
	} else if err := os.WriteFile(o.output, b, 0o600); err != nil {
		return spangate.Errorf(spangate.Invalid, "--output: %w", err).WithHint("give a writable path")
	}
	return writeWIFSetup(info, o, s)
}

// writeWIFSetup prints what to configure on Google's side and in the
// pipeline.
func writeWIFSetup(w io.Writer, o wifOptions, s *wif.Setup) error {
	var b strings.Builder
	if o.output != "" {
		fmt.Fprintf(&b, "Wrote %s: set GOOGLE_APPLICATION_CREDENTIALS to it for direct-mode commands.\n\n", o.output)
	}
	p := s.Pool
	fmt.Fprintf(&b, "Workload identity provider %s:\n", p.Audience())
	fmt.Fprintf(&b, "  attribute mapping:   %s\n", strings.Join(s.AttributeMapping, ","))
	fmt.Fprintf(&b, "  attribute condition: %s\n", s.AttributeCondition)
	fmt.Fprintf(&b, "  token audience:      %s (or list the CI's own audience in allowed audiences)\n\n", s.TokenAudience)
	fmt.Fprintf(&b, "  gcloud iam workload-identity-pools providers update-oidc %s --project=%s --location=global --workload-identity-pool=%s \\\n"+
		"    --attribute-mapping=%q \\\n    --attribute-condition=%q\n", p.Provider, p.ProjectNumber, p.Pool,
		strings.Join(s.AttributeMapping, ","), s.AttributeCondition)
	fmt.Fprintf(&b, "  gcloud iam service-accounts add-iam-policy-binding %s --role=roles/iam.workloadIdentityUser \\\n    --member=%q\n\n",
		o.serviceAccount, s.Member)
	b.WriteString("In the pipeline, before spangate runs:\n")
	for _, l := range s.PipelineLines {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if s.Placeholders {
		b.WriteString("\nReplace the <PLACEHOLDERS>, or pass --repository and --environment: a provider without a condition trusts every pipeline of the CI system.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// checkGoogleCredentials refuses, before Google's libraries read it, a
// GOOGLE_APPLICATION_CREDENTIALS file of type external_account that would
// send the CI token to an endpoint outside googleapis.com.
func (a *app) checkGoogleCredentials() error {
	file := a.getenv("GOOGLE_APPLICATION_CREDENTIALS")
	if file == "" || a.getenv(envEmulatorHost) != "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return spangate.Errorf(spangate.Invalid, "GOOGLE_APPLICATION_CREDENTIALS: %w", err).
			WithHint("point it at the file spangate wif config wrote, or unset it to use the other Application Default Credentials")
	}
	return wif.CheckCredentials(file, b)
}
