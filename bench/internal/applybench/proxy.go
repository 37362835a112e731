package applybench

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"

	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// countingProxy forwards every gRPC call to the emulator unchanged and
// counts the UpdateDatabaseDdl requests per database: an independent count
// of schema operations, since the emulator does not list its operations.
type countingProxy struct {
	addr string
	srv  *grpc.Server
	conn *grpc.ClientConn

	mu     sync.Mutex
	counts map[string]int
}

const updateDDL = "/google.spanner.admin.database.v1.DatabaseAdmin/UpdateDatabaseDdl"

// rawCodec passes messages through as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func startProxy(target string) (*countingProxy, error) {
	conn, err := grpc.NewClient("passthrough:///"+target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &countingProxy{addr: lis.Addr().String(), conn: conn, counts: map[string]int{}}
	p.srv = grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(p.forward))
	go p.srv.Serve(lis)
	return p, nil
}

func (p *countingProxy) stop() {
	p.srv.Stop()
	p.conn.Close()
}

func (p *countingProxy) count(db string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[db]
}

func (p *countingProxy) forward(_ any, in grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(in)
	md, _ := metadata.FromIncomingContext(in.Context())
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(in.Context(), md.Copy()))
	defer cancel()
	out, err := p.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		for {
			var msg []byte
			if err := in.RecvMsg(&msg); err != nil {
				if errors.Is(err, io.EOF) {
					errc <- out.CloseSend()
				} else {
					errc <- err
				}
				return
			}
			if method == updateDDL {
				p.record(msg)
			}
			if err := out.SendMsg(&msg); err != nil {
				errc <- err
				return
			}
		}
	}()
	if h, err := out.Header(); err == nil {
		in.SetHeader(h)
	}
	for {
		var msg []byte
		if err := out.RecvMsg(&msg); err != nil {
			in.SetTrailer(out.Trailer())
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := in.SendMsg(&msg); err != nil {
			return err
		}
	}
}

func (p *countingProxy) record(msg []byte) {
	var req databasepb.UpdateDatabaseDdlRequest
	if proto.Unmarshal(msg, &req) != nil || isBookkeeping(req.GetStatements()) {
		return
	}
	p.mu.Lock()
	p.counts[req.GetDatabase()]++
	p.mu.Unlock()
}

// isBookkeeping reports a batch that only creates a tool's own tables
// (spangate's Spangate* or wrench's SchemaMigrations).
func isBookkeeping(stmts []string) bool {
	for _, s := range stmts {
		if !strings.Contains(s, "Spangate") && !strings.Contains(s, "SchemaMigrations") {
			return false
		}
	}
	return len(stmts) > 0
}
