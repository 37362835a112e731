// Package bitbucket publishes a plan's Code Insights report and its
// annotations on a commit, through the HTTP proxy that Bitbucket Pipelines
// gives every step (and pipe): requests through it carry the pipeline's own
// authorization, so no token is stored anywhere.
package bitbucket

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/cireport"
)

const (
	// API is the Bitbucket API as the pipeline's proxy expects it: plain
	// http, which the proxy turns into an authorized https request.
	API = "http://api.bitbucket.org/2.0"
	// StepProxy is the proxy of a pipeline step; PipeProxy the same proxy
	// as a pipe's container reaches it.
	StepProxy = "http://localhost:29418"
	PipeProxy = "http://host.docker.internal:29418"
	// maxAnnotations is the most annotations Bitbucket takes in one request.
	maxAnnotations = 100
)

// Publisher sends reports to the Bitbucket API.
type Publisher struct {
	client *http.Client
	api    string
}

// NewPublisher returns a publisher whose requests go through proxy (a URL;
// StepProxy or PipeProxy in Bitbucket Pipelines) to api (API in
// production).
func NewPublisher(proxy, api string) (*Publisher, error) {
	p, err := url.Parse(proxy)
	if err != nil || p.Host == "" {
		return nil, spangate.Errorf(spangate.Invalid, "Bitbucket proxy %q is not a URL", proxy).
			WithHint("leave SPANGATE_BITBUCKET_PROXY unset in Bitbucket Pipelines, or set it to http://HOST:PORT")
	}
	return &Publisher{
		client: &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(p)}},
		api:    strings.TrimSuffix(api, "/"),
	}, nil
}

// Publish creates (or replaces) the report on repo's commit, then adds its
// annotations, at most maxAnnotations a request. repo is
// BITBUCKET_REPO_FULL_NAME (workspace/slug), commit BITBUCKET_COMMIT.
func (p *Publisher) Publish(ctx context.Context, repo, commit string, rep cireport.Report, anns []cireport.Annotation) error {
	if repo == "" || commit == "" {
		return spangate.Errorf(spangate.Invalid, "publishing a Code Insights report needs the repository and the commit").
			WithHint("run it in Bitbucket Pipelines, which sets BITBUCKET_REPO_FULL_NAME and BITBUCKET_COMMIT")
	}
	report := fmt.Sprintf("%s/repositories/%s/commit/%s/reports/%s", p.api, repo, url.PathEscape(commit), url.PathEscape(rep.ExternalID))
	if err := p.send(ctx, http.MethodPut, report, rep); err != nil {
		return err
	}
	for start := 0; start < len(anns); start += maxAnnotations {
		if err := p.send(ctx, http.MethodPost, report+"/annotations", anns[start:min(start+maxAnnotations, len(anns))]); err != nil {
			return err
		}
	}
	return nil
}

func (p *Publisher) send(ctx context.Context, method, u string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return spangate.Errorf(spangate.Internal, "encode the Code Insights request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(b))
	if err != nil {
		return spangate.Errorf(spangate.Internal, "Code Insights request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return spangate.Errorf(spangate.Unavailable, "%s %s: %w", method, u, err).
			WithHint("the pipeline's proxy answers only inside Bitbucket Pipelines; in a pipe it is " + PipeProxy)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode/100 != 2 {
		return spangate.Errorf(spangate.Unavailable, "%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(msg))).
			WithHint("the report is still in the files --report-insights wrote; the step's log has Bitbucket's answer")
	}
	return nil
}
