package main

import "testing"

func BenchmarkDevVerify(b *testing.B) {
	tb, err := newTokenBench(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer tb.close()
	op := tb.verifyOp(b.Context())
	b.ReportAllocs()
	for b.Loop() {
		op()
	}
}

func BenchmarkDevRaw(b *testing.B) {
	tb, err := newTokenBench(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer tb.close()
	op, _ := tb.rawRSAOp()
	b.ReportAllocs()
	for b.Loop() {
		op()
	}
}

func BenchmarkDevExchange(b *testing.B) {
	tb, err := newTokenBench(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer tb.close()
	op, err := tb.exchangeOp(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
}
