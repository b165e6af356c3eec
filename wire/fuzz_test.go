package wire

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/google/uuid"

	"github.com/spindle-go/spindle/internal/msgptest"
)

var update = flag.Bool("update", false, "rewrite the seed corpus in testdata/fuzz")

var fuzzIncarnation = uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")

func fuzzRegistry() *Registry {
	r := NewRegistry()
	MustRegister[testMsg](r, "test.Msg")
	MustRegister[testAny](r, "test.Any")
	MustRegister[string](r, "string")
	MustRegister[[]int](r, "ints")
	MustRegister[msgptest.Small](r, "test.Small") // generated codecs
	return r
}

// fuzzSeeds returns named streams: valid frames of each kind, a multi-frame
// stream, and broken inputs. They are deterministic so the corpus files in
// testdata/fuzz/FuzzDecode can be checked against them.
func fuzzSeeds() map[string][]byte {
	reg := fuzzRegistry()
	kv, _ := AppendKV(nil, map[string]string{"traceparent": "00-0af7651916cd43dd-01", "k": "v"})
	user := func(msg any, withKV bool) []byte {
		name, err := reg.TypeName(msg)
		if err != nil {
			panic(err)
		}
		buf, start := BeginFrame(nil, FrameSpec{Kind: KindUser, Dst: 2, Src: 1, Auth: 1})
		kvLen := 0
		if withKV {
			buf, kvLen = append(buf, kv...), len(kv)
		}
		buf = AppendEnvelopeHead(buf, Envelope{Target: "$2/worker", HasSender: true, SenderCtx: 1, SenderID: "$1/client", Type: name})
		if _, buf, err = reg.AppendEncode(buf, msg); err != nil {
			panic(err)
		}
		if err := FinishFrame(buf, start, kvLen); err != nil {
			panic(err)
		}
		return buf
	}
	frame := func(k Kind, fl Flags, body []byte) []byte {
		return AppendFrame(nil, FrameSpec{Kind: k, Flags: fl, Dst: 2, Src: 1, Auth: 1}, nil, body)
	}
	// A struct, not a map: map order would make the corpus nondeterministic.
	sys, _ := Marshal(struct{ Op, Watcher, Watchee string }{"watch", "$1/a", "$2/b"})
	hello := frame(KindHello, 0, AppendHello(nil, Hello{ContextID: 1, AssignedID: 2, Incarnation: fuzzIncarnation,
		ParentIDs: []uint32{0, 1}, Name: "child-1", MaxFrame: DefaultMaxFrame, Features: FeatureFDPassing}))
	dead := frame(KindDead, FlagError, AppendDeadReply(nil, DeadReply{Target: "$2/worker", TargetCtx: 2,
		HasSender: true, SenderCtx: 1, SenderID: "$1/client", Code: DeadUnreachable, Reason: "no route to context 2"}))

	deadCause := frame(KindDead, 0, AppendDeadReply(nil, DeadReply{TargetCtx: 2, Code: DeadUnreachable,
		Reason: "exit status 137", Cause: CauseExit, Detail: 137}))

	seeds := map[string][]byte{
		"dead-cause":     deadCause,
		"hello":          hello,
		"hello-reply":    frame(KindHello, 0, AppendHello(nil, Hello{ContextID: 2, Incarnation: fuzzIncarnation, MaxFrame: MinMaxFrame})),
		"version-reject": AppendVersionReject(nil, 2),
		"ping":           frame(KindPing, 0, nil),
		"pong":           frame(KindPong, 0, []byte{0, 0, 0, 1}),
		"user-value":     user(testMsg{ID: 1, Name: "one", Tags: []string{"a"}}, false),
		"user-pointer":   user(&testMsg{ID: 2}, true),
		"user-any":       user(testAny{V: []any{1, "x"}, M: map[string]any{"k": 1.5}}, false), // one key: deterministic
		"user-string":    user("hello", false),
		"user-ints":      user([]int{1, 2, 3}, true),
		"system":         frame(KindSystem, 0, sys),
		"dead":           dead,
		"stream":         bytes.Join([][]byte{hello, frame(KindPing, 0, nil), user(testMsg{ID: 3}, true), dead}, nil),
	}
	for _, k := range []Kind{KindGetBinary, KindCallFunction, KindForwardLog, KindAddRoute, KindDelRoute,
		KindAllocateID, KindShutdown, KindLoadBinary, KindForwardBinary, KindDetaching, KindCallService, KindSpawnActor} {
		seeds[fmt.Sprintf("kind-%d", k)] = frame(k, FlagStart|FlagEnd, sys)
	}

	// Broken inputs.
	badMagic := append([]byte(nil), hello...)
	badMagic[0] = 'X'
	badVersion := append([]byte(nil), hello...)
	badVersion[offVersion] = 2
	oversize := frame(KindUser, 0, nil)
	copy(oversize[offBodyLen:], []byte{0xff, 0xff, 0xff, 0xff})
	badEnv := frame(KindUser, 0, []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0x0f})
	badPayload := user(testMsg{ID: 4}, false)
	badPayload[len(badPayload)-1] = 0xc1
	badKV := AppendFrame(nil, FrameSpec{Kind: KindUser}, []byte{0, 1, 2}, nil)
	seeds["bad-magic"] = badMagic
	seeds["bad-version"] = badVersion
	seeds["oversize"] = oversize
	seeds["truncated-header"] = hello[:HeaderSize-3]
	seeds["truncated-body"] = dead[:len(dead)-2]
	seeds["bad-envelope"] = badEnv
	seeds["bad-payload"] = badPayload
	seeds["bad-kv"] = badKV
	seeds["deep-payload"] = frame(KindSystem, 0, append(bytes.Repeat([]byte{0x91}, 300), 0xc0))
	return seeds
}

func corpusFile(b []byte) []byte {
	return []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b))
}

// TestFuzzCorpus checks that testdata/fuzz/FuzzDecode holds the seeds of
// fuzzSeeds; run with -update to rewrite it.
func TestFuzzCorpus(t *testing.T) { checkCorpus(t, "FuzzDecode", fuzzSeeds()) }

// checkCorpus checks that testdata/fuzz/<fuzzer> holds seeds; with
// -update it writes them.
func checkCorpus(t *testing.T, fuzzer string, seeds map[string][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", fuzzer)
	names := make([]string, 0, len(seeds))
	for name := range seeds {
		names = append(names, name)
	}
	sort.Strings(names)
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		path := filepath.Join(dir, "seed-"+name)
		want := corpusFile(seeds[name])
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale (run go test -run Corpus -update): %v", path, err)
		}
	}
}

// FuzzDecode reads frames from arbitrary bytes and runs every body parser
// on every part. Nothing may panic; whatever parses must re-encode to
// something that parses to the same value.
func FuzzDecode(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	reg := fuzzRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), MinMaxFrame)
		for i := 0; i < 64; i++ {
			fr, err := r.ReadFrame()
			if err != nil {
				checkReadError(t, err)
				return
			}
			h := fr.Header()
			if err := h.Check(MinMaxFrame); err != nil || h.FrameLen() != len(fr.Raw) {
				t.Fatalf("ReadFrame returned a bad frame: %v, FrameLen %d, %d bytes", err, h.FrameLen(), len(fr.Raw))
			}
			checkKV(t, fr.KV())
			for _, part := range [][]byte{fr.Body(), fr.KV()} {
				checkHello(t, part)
				checkDeadReply(t, part)
				if e, ok := checkEnvelope(t, part); ok {
					checkRegistryDecode(t, reg, e.Type, e.Payload)
				}
				var v any
				_ = Unmarshal(part, &v)
			}
		}
	})
}

func checkReadError(t *testing.T, err error) {
	for _, want := range []error{io.EOF, io.ErrUnexpectedEOF, ErrBadMagic, ErrVersion, ErrFrameTooLarge} {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("unexpected ReadFrame error %v", err)
}

func checkKV(t *testing.T, b []byte) {
	m, err := ParseKV(b)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseKV error %v does not wrap ErrMalformed", err)
		}
		return
	}
	enc, err := AppendKV(nil, m)
	if err != nil {
		t.Fatalf("AppendKV of a parsed block: %v", err)
	}
	if len(enc) != len(b) {
		t.Fatalf("kv re-encoding is %d bytes, input %d", len(enc), len(b))
	}
	m2, err := ParseKV(enc)
	if err != nil || !reflect.DeepEqual(m, m2) {
		t.Fatalf("kv round trip: %v, %v != %v", err, m2, m)
	}
}

func checkHello(t *testing.T, b []byte) {
	h, err := ParseHello(b)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseHello error %v does not wrap ErrMalformed", err)
		}
		return
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("parsed hello does not validate: %v", err)
	}
	if enc := AppendHello(nil, h); !bytes.Equal(enc, b) {
		t.Fatalf("hello re-encoding differs:\n% x\n% x", enc, b)
	}
}

func checkEnvelope(t *testing.T, b []byte) (Envelope, bool) {
	e, err := ParseEnvelope(b)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseEnvelope error %v does not wrap ErrMalformed", err)
		}
		return Envelope{}, false
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("parsed envelope does not validate: %v", err)
	}
	enc := append(AppendEnvelopeHead(nil, e), e.Payload...)
	e2, err := ParseEnvelope(enc)
	if err != nil || e2.Target != e.Target || e2.HasSender != e.HasSender || e2.SenderCtx != e.SenderCtx ||
		e2.SenderID != e.SenderID || e2.Type != e.Type || !bytes.Equal(e2.Payload, e.Payload) {
		t.Fatalf("envelope round trip: %v, %+v != %+v", err, e2, e)
	}
	return e, true
}

func checkDeadReply(t *testing.T, b []byte) {
	d, err := ParseDeadReply(b)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseDeadReply error %v does not wrap ErrMalformed", err)
		}
		return
	}
	d2, err := ParseDeadReply(AppendDeadReply(nil, d))
	if err != nil || d2 != d {
		t.Fatalf("dead reply round trip: %v, %+v != %+v", err, d2, d)
	}
}

func checkRegistryDecode(t *testing.T, reg *Registry, name string, payload []byte) {
	v, err := reg.Decode(name, payload)
	var c TypeCache // the reader's path agrees with the plain one
	for range 2 {   // a miss, then a hit
		cv, cerr := reg.DecodeNameCached(&c, []byte(name), payload)
		if (cerr == nil) != (err == nil) || reflect.TypeOf(cv) != reflect.TypeOf(v) {
			t.Fatalf("DecodeNameCached %#v, %v; Decode %#v, %v", cv, cerr, v, err)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrBadPayload) {
			t.Fatalf("Decode error %v wraps neither ErrUnknownType nor ErrBadPayload", err)
		}
		return
	}
	name2, enc, err := reg.AppendEncode(nil, v)
	if err != nil || name2 != name {
		t.Fatalf("re-encoding a decoded %T: %q, %v", v, name2, err)
	}
	if _, err := reg.Decode(name2, enc); err != nil {
		t.Fatalf("decoding a re-encoded %T: %v", v, err)
	}
}

func FuzzParseHello(f *testing.F) {
	f.Add(AppendHello(nil, Hello{ContextID: 1, AssignedID: 2, Incarnation: fuzzIncarnation,
		ParentIDs: []uint32{0, 1}, Name: "child", MaxFrame: DefaultMaxFrame, Features: FeatureFDPassing}))
	f.Add(AppendHello(nil, Hello{ContextID: 2, MaxFrame: MinMaxFrame}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) { checkHello(t, b) })
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add(append(AppendEnvelopeHead(nil, Envelope{Target: "t", HasSender: true, SenderCtx: 3, SenderID: "s", Type: "T"}), 0xc0))
	f.Add(AppendEnvelopeHead(nil, Envelope{Target: "t", Type: "*test.Msg"}))
	f.Add([]byte{0, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) { checkEnvelope(t, b) })
}

func FuzzParseKV(f *testing.F) {
	kv, _ := AppendKV(nil, map[string]string{"a": "1", "traceparent": "00-abc-01"})
	f.Add(kv)
	f.Add([]byte{1, 'a', 0, 0, 1, 'a', 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) { checkKV(t, b) })
}

func FuzzParseDeadReply(f *testing.F) {
	f.Add(AppendDeadReply(nil, DeadReply{Target: "t", TargetCtx: 2, HasSender: true, SenderCtx: 1, SenderID: "s", Reason: "why"}))
	f.Add(AppendDeadReply(nil, DeadReply{Reason: "exit status 137"}))
	f.Add(AppendDeadReply(nil, DeadReply{Target: "w", Code: DeadRejected, Reason: "unknown type \"x\""}))
	f.Add(AppendDeadReply(nil, DeadReply{Target: "w", TargetCtx: 4, HasSender: true, SenderCtx: 1, SenderID: "$rAAAA",
		Code: DeadUnreachable, Reason: "exit status 3", Cause: CauseExit, Detail: 3}))
	f.Add(AppendDeadReply(nil, DeadReply{Reason: "heartbeat timeout", Cause: CauseHeartbeat}))
	f.Fuzz(func(t *testing.T, b []byte) { checkDeadReply(t, b) })
}

// FuzzRegistryDecode feeds arbitrary msgpack to the registered types.
func FuzzRegistryDecode(f *testing.F) {
	reg := fuzzRegistry()
	for _, msg := range []any{testMsg{ID: 1, Tags: []string{"x"}}, &testMsg{}, testAny{V: map[string]any{"a": []any{1}}}, "s", []int{1},
		&msgptest.Small{ID: 1, Name: "n", Tags: []string{"t"}, Blob: []byte{1}}} {
		name, b, err := reg.AppendEncode(nil, msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, b)
	}
	f.Fuzz(func(t *testing.T, name string, payload []byte) { checkRegistryDecode(t, reg, name, payload) })
}
