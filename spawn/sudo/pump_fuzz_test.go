package sudo

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzPromptScan: however sudo's stderr is cut into reads, the pump finds
// the same prompts and passes on exactly the other bytes, in order.
func FuzzPromptScan(f *testing.F) {
	f.Add([]byte("[p-1]"), []byte("Sorry, try again.\n[p-1]"), uint8(3))
	f.Add([]byte("[p-1]"), []byte("[p-1][p-1][p-"), uint8(1))
	f.Add([]byte("ab"), []byte("aab\nabab"), uint8(2))
	f.Add([]byte("tok"), []byte(""), uint8(7))
	f.Fuzz(func(t *testing.T, prompt, stream []byte, cut uint8) {
		if len(prompt) == 0 || len(prompt) > 64 || len(stream) > 4096 {
			return
		}
		wantN := bytes.Count(stream, prompt)
		want := strings.ReplaceAll(string(stream), string(prompt), "")
		ch := make(chan struct{}, len(stream)+1)
		p := &promptPump{prompt: prompt, ch: ch, scanning: true}
		step := int(cut%16) + 1
		for i := 0; i < len(stream); i += step {
			p.scan(stream[i:min(i+step, len(stream))])
		}
		pr, pw := io.Pipe()
		p.pr, p.pw = pr, pw
		_ = pw.Close()
		got, err := io.ReadAll(p.forward())
		if err != nil {
			t.Fatal(err)
		}
		if len(ch) != wantN {
			t.Fatalf("prompts %d, want %d", len(ch), wantN)
		}
		if string(got) != want && len(want) <= maxNoiseBytes {
			t.Fatalf("passed on %q, want %q", got, want)
		}
	})
}

// FuzzReadMarker: the marker is found after any other output, or an
// error is reported; the reader is never left holding the marker.
func FuzzReadMarker(f *testing.F) {
	f.Add([]byte("hello\r\nworld\n"), []byte("after"))
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("SPINDLE-AUTH/1 ok x\n"), []byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, noise, after []byte) {
		marker := markerPrefix + "0123456789abcdef"
		if bytes.Contains(noise, []byte(marker)) {
			return
		}
		in := append(append(append([]byte(nil), noise...), "\n"+marker+"\n"...), after...)
		br := bufioReader(in)
		ch := make(chan error, 1)
		readMarker(br, marker, (&Auth{}).logger(), ch)
		err := <-ch
		if err != nil {
			if len(noise) <= maxNoiseBytes/2 && bytes.Count(noise, []byte("\n")) < maxNoiseLines-1 {
				t.Fatalf("marker not found after %q: %v", noise, err)
			}
			return
		}
		rest, _ := io.ReadAll(br)
		if !bytes.Equal(rest, after) {
			t.Fatalf("after the marker %q, want %q", rest, after)
		}
	})
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReaderSize(bytes.NewReader(b), 4096) }
