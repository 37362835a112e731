package gateway

import (
	"context"
	"testing"

	"github.com/spangate/spangate"
	"github.com/spangate/spangate/internal/config"
	"github.com/spangate/spangate/internal/sqlstmt"
)

type nopVerifier struct{}

func (nopVerifier) Verify(context.Context, string) (spangate.Principal, error) {
	return spangate.Principal{}, spangate.Errorf(spangate.Unauthenticated, "no")
}

type nopPolicy struct{}

func (nopPolicy) Decide(spangate.Principal, string, spangate.Action) spangate.Decision {
	return spangate.Decision{}
}
func (nopPolicy) DecideParsed(spangate.Principal, string, *sqlstmt.Statement) spangate.Decision {
	return spangate.Decision{}
}
func (nopPolicy) DecideMigration(spangate.Principal, string, []sqlstmt.Statement) spangate.Decision {
	return spangate.Decision{}
}

type nopOpener struct{}

func (nopOpener) Open(context.Context, string) (Database, error) { return nil, nil }

// TestLargeParsesWaitForASlot: while every parse slot is busy, a large
// text whose request has run out of time is refused without being parsed;
// a small one is parsed at once; a freed slot lets the next large one in.
func TestLargeParsesWaitForASlot(t *testing.T) {
	s, err := New(config.Default(), Deps{Verifier: nopVerifier{}, Policy: nopPolicy{}, Databases: nopOpener{}})
	if err != nil {
		t.Fatal(err)
	}
	for range cap(s.parseSlots) {
		s.parseSlots <- struct{}{}
	}
	done, cancel := context.WithCancel(t.Context())
	cancel()
	parsed := 0
	parse := func() error { parsed++; return nil }
	if err := s.parsing(done, largeSQL, parse); spangate.KindOf(err) != spangate.Unavailable || parsed != 0 {
		t.Fatalf("large text with all slots busy and no time left: err %v, parsed %d", err, parsed)
	}
	if err := s.parsing(done, largeSQL-1, parse); err != nil || parsed != 1 {
		t.Fatalf("small text: err %v, parsed %d", err, parsed)
	}
	<-s.parseSlots
	if err := s.parsing(t.Context(), largeSQL, parse); err != nil || parsed != 2 {
		t.Fatalf("large text with a free slot: err %v, parsed %d", err, parsed)
	}
	if len(s.parseSlots) != cap(s.parseSlots)-1 {
		t.Errorf("the slot was not given back: %d of %d taken", len(s.parseSlots), cap(s.parseSlots))
	}
}
