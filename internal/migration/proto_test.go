package migration_test

import (
	"bytes"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/spangate/spangate/internal/migration"
)

// shopDescriptors returns a serialized FileDescriptorSet of package
// examples.shop with messages Item (and, with extra, Extra) and enum Color.
func shopDescriptors(t *testing.T, extra bool) []byte {
	t.Helper()
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	msgs := []*descriptorpb.DescriptorProto{{Name: proto.String("Item"), Field: []*descriptorpb.FieldDescriptorProto{
		{Name: proto.String("name"), Number: proto.Int32(1), Type: str, Label: opt, JsonName: proto.String("name")}}}}
	if extra {
		msgs = append(msgs, &descriptorpb.DescriptorProto{Name: proto.String("Extra")})
	}
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{{
		Name: proto.String("shop.proto"), Package: proto.String("examples.shop"), Syntax: proto.String("proto3"), MessageType: msgs,
		EnumType: []*descriptorpb.EnumDescriptorProto{{Name: proto.String("Color"), Value: []*descriptorpb.EnumValueDescriptorProto{{Name: proto.String("RED"), Number: proto.Int32(0)}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProtoDescriptors (issue 13.3): a file's -- spangate:proto-descriptors
// directive sends its FileDescriptorSet with the batch that holds its proto
// bundle statement, on the emulator; two descriptor sets never share a
// batch; the checksum covers the descriptors; a proto bundle without
// descriptors is refused at plan time; --proto-descriptors is the default.
func TestProtoDescriptors(t *testing.T) {
	v1, v2 := shopDescriptors(t, false), shopDescriptors(t, true)
	fsys := fstest.MapFS{
		"m/0001_protos.sql": {Data: []byte("-- spangate:proto-descriptors protos/shop.pb\nCREATE PROTO BUNDLE (examples.shop.Item, examples.shop.Color);\n" +
			"CREATE TABLE P (Id INT64 NOT NULL, I examples.shop.Item, C examples.shop.Color) PRIMARY KEY (Id);")},
		"m/0002_q.sql":      {Data: []byte("CREATE TABLE Q (Id INT64 NOT NULL) PRIMARY KEY (Id);")},
		"m/0003_extra.sql":  {Data: []byte("-- spangate:proto-descriptors protos/shop2.pb\nALTER PROTO BUNDLE INSERT (examples.shop.Extra);")},
		"m/protos/shop.pb":  {Data: v1},
		"m/protos/shop2.pb": {Data: v2},
	}
	read := func(set *migration.Set, defaults []byte) {
		t.Helper()
		root, _ := fs.Sub(fsys, "m")
		if err := set.LoadProtoDescriptors(func(p string) ([]byte, error) { return fs.ReadFile(root, p) }, defaults); err != nil {
			t.Fatal(err)
		}
	}
	set, err := migration.ReadDir(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	read(set, nil)
	if set.Files[0].Checksum == migration.Checksum(fsys["m/0001_protos.sql"].Data) || !bytes.Equal(set.Files[0].ProtoDescriptors, v1) {
		t.Fatal("the checksum of a file with descriptors does not cover them")
	}
	p := migration.NewPlan(set, nil)
	if len(p.Steps) != 2 || !bytes.Equal(p.Steps[0].ProtoDescriptors, v1) || !bytes.Equal(p.Steps[1].ProtoDescriptors, v2) || p.Blocked() {
		t.Fatalf("steps %+v, findings %+v; want two batches, one per descriptor set", p.Steps, p.Findings)
	}
	db := openDB(t)
	e := engineFor(db, "protos")
	res, err := e.Apply(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	if res.SchemaOperations != 2 || len(res.Applied) != 3 {
		t.Errorf("apply: %+v", res)
	}
	ddl, err := db.Schema(t.Context())
	if err != nil || !strings.Contains(strings.Join(ddl, "\n"), "examples.shop.Extra") {
		t.Errorf("live schema %v %v; want the bundle with Extra", ddl, err)
	}

	// Other descriptors for an applied file change its checksum: blocked.
	fsys["m/protos/shop.pb"] = &fstest.MapFile{Data: v2}
	again, _ := migration.ReadDir(fsys, "m")
	read(again, nil)
	if p, err := e.Plan(t.Context(), again); err != nil || !hasErrorRule(p, migration.RuleModified) {
		t.Errorf("plan with changed descriptors: %v %+v", err, p)
	}

	// A proto bundle without descriptors is refused at plan time; the
	// default descriptors fill in for files that name none.
	bare := migration.Parse([]migration.Source{{Name: "m/0001_b.sql", Content: []byte("CREATE PROTO BUNDLE (examples.shop.Item);")}})
	if p := migration.NewPlan(bare, nil); !hasErrorRule(p, migration.RuleProtoDescriptor) {
		t.Errorf("a proto bundle without descriptors: %+v", p.Findings)
	}
	read(bare, v1)
	if p := migration.NewPlan(bare, nil); p.Blocked() || !bytes.Equal(p.Steps[0].ProtoDescriptors, v1) {
		t.Errorf("with --proto-descriptors: %+v %+v", p.Findings, p.Steps)
	}
}

func hasErrorRule(p *migration.Plan, rule string) bool {
	for _, f := range p.Findings {
		if f.Rule == rule && f.Severity == migration.SeverityError {
			return true
		}
	}
	return false
}
