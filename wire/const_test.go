package wire

import (
	"bytes"
	"testing"
)

func TestConst_HeaderLayout(t *testing.T) {
	if HeaderSize != 24 {
		t.Fatalf("HeaderSize = %d, want 24", HeaderSize)
	}
	offsets := []struct {
		name      string
		off, size int
		wantOff   int
		wantSize  int
	}{
		{"magic", offMagic, sizeOfMagic, 0, 2},
		{"version", offVersion, sizeOfVersion, 2, 1},
		{"flags", offFlags, sizeOfFlags, 3, 1},
		{"kind", offKind, sizeOfKind, 4, 2},
		{"kvlen", offKVLen, sizeOfKVLen, 6, 2},
		{"dst", offDst, sizeOfDst, 8, 4},
		{"src", offSrc, sizeOfSrc, 12, 4},
		{"auth", offAuth, sizeOfAuth, 16, 4},
		{"bodylen", offBodyLen, sizeOfBodyLen, 20, 4},
	}
	for _, o := range offsets {
		if o.off != o.wantOff || o.size != o.wantSize {
			t.Errorf("%s at %d size %d, want %d size %d", o.name, o.off, o.size, o.wantOff, o.wantSize)
		}
	}
	if offBodyLen+sizeOfBodyLen != HeaderSize {
		t.Errorf("fields end at %d, HeaderSize %d", offBodyLen+sizeOfBodyLen, HeaderSize)
	}
}

func TestConst_Values(t *testing.T) {
	if Magic != 0x5350 || Version != 1 {
		t.Errorf("Magic %#x Version %d", Magic, Version)
	}
	if DefaultMaxFrame != 128<<20 || MinMaxFrame != 64<<10 {
		t.Errorf("DefaultMaxFrame %d MinMaxFrame %d", DefaultMaxFrame, MinMaxFrame)
	}
	kinds := map[Kind]uint16{
		KindHello: 1, KindPing: 2, KindPong: 3, KindUser: 10, KindSystem: 11,
		KindGetBinary: 100, KindCallFunction: 101, KindForwardLog: 102,
		KindAddRoute: 103, KindDelRoute: 104, KindAllocateID: 105,
		KindShutdown: 106, KindLoadBinary: 107, KindForwardBinary: 108,
		KindDetaching: 109, KindCallService: 110, KindSpawnActor: 120, KindCallReply: 121, KindCallCancel: 122,
		KindStreamOpen: 130, KindStreamData: 131, KindStreamCredit: 132, KindStreamReset: 133,
		KindDead: 999,
	}
	for k, n := range kinds {
		if uint16(k) != n {
			t.Errorf("%v = %d, want %d", k, uint16(k), n)
		}
	}
	if FlagStart != 1 || FlagEnd != 2 || FlagFDs != 4 || FlagError != 8 {
		t.Errorf("flags %d %d %d %d", FlagStart, FlagEnd, FlagFDs, FlagError)
	}
}

// TestConst_GoldenHeader pins the encoding byte by byte.
func TestConst_GoldenHeader(t *testing.T) {
	kv := []byte{1, 'k', 0, 1, 'v'} // {"k": "v"}, 5 bytes
	body := []byte("123456789")
	got := AppendFrame(nil, FrameSpec{Kind: KindAddRoute, Flags: FlagStart | FlagEnd, Dst: 7, Src: 3, Auth: 3}, kv, body)
	want := []byte{
		0x53, 0x50, // magic "SP"
		0x01,       // version
		0x03,       // flags START|END
		0x00, 0x67, // kind 103 ADD_ROUTE
		0x00, 0x05, // kv length
		0x00, 0x00, 0x00, 0x07, // dst
		0x00, 0x00, 0x00, 0x03, // src
		0x00, 0x00, 0x00, 0x03, // auth
		0x00, 0x00, 0x00, 0x09, // body length
	}
	want = append(append(want, kv...), body...)
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n got % x\nwant % x", got, want)
	}
	m, err := ParseKV(kv)
	if err != nil || len(m) != 1 || m["k"] != "v" {
		t.Fatalf("ParseKV = %v, %v", m, err)
	}
}
