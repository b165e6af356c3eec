package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/spindle-go/spindle/wire"
)

type Greeting struct {
	Text string
}

// Example sends one user message through a byte stream and decodes it on
// the other side.
func Example() {
	reg := wire.NewRegistry()
	wire.MustRegister[Greeting](reg, "example.Greeting")

	// Sender: envelope head and payload are encoded straight into the
	// frame buffer.
	msg := &Greeting{Text: "hello"}
	name, err := reg.TypeName(msg)
	if err != nil {
		panic(err)
	}
	buf, start := wire.BeginFrame(nil, wire.FrameSpec{Kind: wire.KindUser, Dst: 7, Src: 1, Auth: 1})
	buf = wire.AppendEnvelopeHead(buf, wire.Envelope{Target: "greeter", Type: name})
	if _, buf, err = reg.AppendEncode(buf, msg); err != nil {
		panic(err)
	}
	if err := wire.FinishFrame(buf, start, 0); err != nil {
		panic(err)
	}

	// Receiver.
	r := wire.NewReader(bytes.NewReader(buf), 0)
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		env, err := wire.ParseEnvelope(f.Body())
		if err != nil {
			panic(err)
		}
		v, err := reg.Decode(env.Type, env.Payload)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%v to %d/%s: %T %q\n", f.Header().Kind(), f.Header().Dst(), env.Target, v, v.(*Greeting).Text)
	}
	// Output: USER to 7/greeter: *wire_test.Greeting "hello"
}

func ExampleRegistry_AppendEncode_unregistered() {
	type NotRegistered struct{}
	reg := wire.NewRegistry()
	_, _, err := reg.AppendEncode(nil, NotRegistered{})
	fmt.Println(errors.Is(err, wire.ErrUnregistered))
	fmt.Println(err)
	// Output:
	// true
	// wire: unregistered message type wire_test.NotRegistered
}

func ExampleAppendHello() {
	h := wire.Hello{ContextID: 1, AssignedID: 5, ParentIDs: []uint32{1}, Name: "worker-5", MaxFrame: wire.DefaultMaxFrame}
	frame := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindHello, Src: 1, Auth: 1}, nil, wire.AppendHello(nil, h))
	f, _ := wire.NewReader(bytes.NewReader(frame), 0).ReadFrame()
	got, err := wire.ParseHello(f.Body())
	fmt.Println(got.AssignedID, got.Name, got.ParentIDs, err)
	// Output: 5 worker-5 [1] <nil>
}

func ExampleAppendVersionReject() {
	// A peer's hello announced protocol version 2.
	peer := []byte{0x53, 0x50, 2}
	_, err := wire.NewReader(bytes.NewReader(peer), 0).ReadFrame()
	var ve *wire.VersionError
	if errors.As(err, &ve) {
		reject := wire.AppendVersionReject(nil, ve.Remote)
		fmt.Println(err)
		fmt.Println(wire.Header(reject).Kind(), wire.Header(reject).Flags())
	}
	// Output:
	// wire: protocol version mismatch: we speak 1, peer speaks 2
	// HELLO ERROR
}

func ExampleAppendKV() {
	kv, _ := wire.AppendKV(nil, map[string]string{"traceparent": "00-abc-01"})
	frame := wire.AppendFrame(nil, wire.FrameSpec{Kind: wire.KindUser}, kv, nil)
	m, _ := wire.ParseKV(wire.Frame{Raw: frame}.KV())
	fmt.Println(m)
	// Output: map[traceparent:00-abc-01]
}
