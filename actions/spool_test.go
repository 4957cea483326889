package actions

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// A spool is read while it fills: a reader gets what has arrived and waits
// for the rest, and ends with the export's failure should it fail.
func TestSpoolReadsWhileFilling(t *testing.T) {
	ctx := context.Background()
	t.Run("follows the export", func(t *testing.T) {
		pr, pw := io.Pipe()
		doneN := make(chan int64, 1)
		sp, err := spoolStart(ctx, t.TempDir(), pr, 10, nil, func(n int64, err error) { doneN <- n })
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		if sp.Expected() != 10 {
			t.Fatalf("expected %d", sp.Expected())
		}
		pw.Write([]byte("hello"))
		r := sp.Reader()
		buf := make([]byte, 10)
		n, err := io.ReadAtLeast(r, buf, 5)
		if err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
		got := make(chan []byte)
		go func() {
			rest, _ := io.ReadAll(r) // waits for the rest
			got <- rest
		}()
		select {
		case b := <-got:
			t.Fatalf("the reader ended at %q before the export did", b)
		case <-time.After(50 * time.Millisecond):
		}
		pw.Write([]byte("world"))
		pw.Close()
		if rest := <-got; string(rest) != "world" {
			t.Fatalf("rest %q", rest)
		}
		if n := <-doneN; n != 10 || sp.wait() != nil || sp.Size() != 10 {
			t.Fatalf("done with %d, wait %v, size %d", n, sp.wait(), sp.Size())
		}
		// Read again from the start, as a retried upload does.
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if all, _ := io.ReadAll(r); string(all) != "helloworld" {
			t.Fatalf("again: %q", all)
		}
	})
	t.Run("a failed export ends the readers with its error", func(t *testing.T) {
		pr, pw := io.Pipe()
		sp, err := spoolStart(ctx, t.TempDir(), pr, 100, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		pw.Write([]byte("part"))
		pw.CloseWithError(errors.New("connection reset"))
		b, err := io.ReadAll(sp.Reader())
		if string(b) != "part" || err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("read %q, %v", b, err)
		}
		if _, err := sp.Reader().Seek(0, io.SeekStart); err == nil {
			t.Error("a failed spool can be rewound")
		}
	})
	t.Run("shorter than announced", func(t *testing.T) {
		sp, err := spoolStart(ctx, t.TempDir(), io.NopCloser(bytes.NewReader([]byte("abc"))), 5, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		if err := sp.wait(); err == nil || !strings.Contains(err.Error(), "announced 5 bytes and sent 3") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("Close stops a copy waiting for the network", func(t *testing.T) {
		pr, _ := io.Pipe()
		sp, err := spoolStart(ctx, t.TempDir(), pr, -1, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan error)
		go func() { closed <- sp.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close hangs while the export waits for data")
		}
	})
}
