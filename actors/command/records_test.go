package command

import (
	"bytes"
	"testing"
)

// FuzzReadRecord: the record reader never panics nor reads beyond its
// bound, and a record it accepts is the bytes it was given.
func FuzzReadRecord(f *testing.F) {
	f.Add([]byte{recRequest, 0, 0, 0, 2, 0x81, 0xa0})
	f.Add([]byte{recStdout, 0, 0, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{recExit, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{recStdin, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		typ, b, err := readRecord(bytes.NewReader(in), nil, 64)
		if err != nil {
			return
		}
		if len(b) > 64 || len(in) < recHeader+len(b) || in[0] != typ || !bytes.Equal(in[recHeader:recHeader+len(b)], b) {
			t.Fatalf("record %d % x from % x", typ, b, in)
		}
	})
}
