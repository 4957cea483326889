package qrs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

// exportServer answers an export and serves its download, or fails it.
func exportServer(content []byte, downloadStatus int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/export/"):
			token := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"exportToken":%q,"appId":%q,"downloadPath":"/tempcontent/%s/ Sales%%20%%26%%20Co.qvf?serverNodeId=n1","cancelled":false}`,
				token, appID, token)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/tempcontent/"):
			if downloadStatus != 200 {
				http.Error(w, "Not found", downloadStatus)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.Write(content)
		case r.Method == http.MethodDelete:
			io.WriteString(w, `{"cancelled":true}`)
		}
	}
}

func deletes(rec *recorder) []string {
	var out []string
	for _, r := range rec.all() {
		if r.Method == http.MethodDelete {
			out = append(out, r.URL.Path)
		}
	}
	return out
}

func TestExport(t *testing.T) {
	content := bytes.Repeat([]byte("qvf!"), 100_000)
	ctx := context.Background()

	t.Run("read to the end", func(t *testing.T) {
		c, rec := newTestClient(t, exportServer(content, 200), nil)
		d, err := c.ExportApp(ctx, appID, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(d)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		d.Close()
		if d.Name != "Sales & Co.qvf" || d.Size != int64(len(content)) {
			t.Errorf("name %q size %d", d.Name, d.Size)
		}
		reqs := rec.all()
		post, get := reqs[0], reqs[1]
		if post.URL.Query().Get("skipData") != "true" || !qrs.IsGUID(post.URL.Path[strings.LastIndex(post.URL.Path, "/")+1:]) {
			t.Errorf("export call %s", post.URL)
		}
		if get.URL.Query().Get("serverNodeId") != "n1" || get.URL.Query().Get("xrfkey") != get.Header.Get("X-Qlik-Xrfkey") {
			t.Errorf("download call %s", get.URL)
		}
		if len(deletes(rec)) != 0 {
			t.Errorf("a complete download cancelled its token: %v", deletes(rec))
		}
	})

	t.Run("read exactly Size bytes", func(t *testing.T) {
		c, rec := newTestClient(t, exportServer(content, 200), nil)
		d, err := c.ExportApp(ctx, appID, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, d, d.Size); err != nil {
			t.Fatal(err)
		}
		d.Close()
		if len(deletes(rec)) != 0 {
			t.Errorf("a complete download cancelled its token: %v", deletes(rec))
		}
	})

	t.Run("closed early cancels the token", func(t *testing.T) {
		c, rec := newTestClient(t, exportServer(content, 200), nil)
		d, err := c.ExportApp(ctx, appID, false)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(d, make([]byte, 10))
		d.Close()
		d.Close()
		token := rec.all()[0].URL.Path[strings.LastIndex(rec.all()[0].URL.Path, "/")+1:]
		if del := deletes(rec); len(del) != 1 || del[0] != "/qrs/app/"+appID+"/export/"+token {
			t.Errorf("deletes %v, want the export token %s", del, token)
		}
	})

	t.Run("download fails", func(t *testing.T) {
		c, rec := newTestClient(t, exportServer(content, 404), nil)
		if _, err := c.ExportApp(ctx, appID, false); !qrs.IsNotFound(err) {
			t.Fatalf("error %v", err)
		}
		if len(deletes(rec)) != 1 {
			t.Errorf("deletes %v, want the token cancelled", deletes(rec))
		}
	})

	t.Run("download elsewhere is refused", func(t *testing.T) {
		c, rec := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				w.WriteHeader(201)
				io.WriteString(w, `{"exportToken":"t","downloadPath":"https://evil.example/x.qvf"}`)
			}
		}, nil)
		if _, err := c.ExportApp(ctx, appID, false); err == nil || !strings.Contains(err.Error(), "not on this server") {
			t.Fatalf("error %v", err)
		}
		if len(deletes(rec)) != 1 {
			t.Errorf("deletes %v, want the token cancelled", deletes(rec))
		}
	})
}

func TestUploadStreams(t *testing.T) {
	type seen struct {
		length  int64
		chunked bool
		ctype   string
		sum     [32]byte
		query   string
	}
	var got seen
	c, rec := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet { // looking for an app the upload made: none
			io.WriteString(w, "[]")
			return
		}
		h := sha256.New()
		io.Copy(h, r.Body)
		got = seen{r.ContentLength, len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked",
			r.Header.Get("Content-Type"), [32]byte(h.Sum(nil)), r.URL.RawQuery}
		w.WriteHeader(http.StatusServiceUnavailable) // not repeated: the body cannot be read again
	}, nil)
	content := bytes.Repeat([]byte("0123456789"), 50_000)
	want := sha256.Sum256(content)
	posts := func() (n int) {
		for _, r := range rec.all() {
			if r.Method == http.MethodPost {
				n++
			}
		}
		return n
	}
	for _, size := range []int64{int64(len(content)), -1} {
		n := posts()
		_, err := c.UploadApp(context.Background(), "Sales & Co", true, io.MultiReader(bytes.NewReader(content)), size)
		if statusOf(err) != 503 || posts()-n != 1 {
			t.Fatalf("size %d: %v after %d attempts; want one 503", size, err, posts()-n)
		}
		if got.sum != want || got.ctype != "application/vnd.qlik.sense.app" || got.chunked != (size < 0) || (size >= 0 && got.length != size) {
			t.Errorf("size %d: server saw %+v", size, got)
		}
		if !strings.HasPrefix(got.query, "name=Sales%20%26%20Co&keepdata=true&xrfkey=") {
			t.Errorf("query %s", got.query)
		}
	}
}

// slowReader yields n chunks, pausing before each.
type slowReader struct {
	n     int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	s.n--
	time.Sleep(s.pause)
	return copy(p, "chunk"), nil
}

func TestContentTransferOutlivesResponseTimeout(t *testing.T) {
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/export/"):
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"exportToken":"t","downloadPath":"/tempcontent/t/slow.qvf"}`)
		case strings.HasPrefix(r.URL.Path, "/tempcontent/"):
			for range 6 {
				io.WriteString(w, "chunk")
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		case r.URL.Path == "/qrs/app/full":
			io.WriteString(w, "[]")
		case r.URL.Path == "/qrs/app/upload":
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"new"}`)
		}
	}, func(c *qrs.SiteConfig) {
		// Transfers are timed by progress only (TestTransferStall); a
		// generous stall timeout keeps this test about the response timeout.
		c.ResponseTimeout, c.StallTimeout = 100*time.Millisecond, 2*time.Second
	})
	ctx := context.Background()
	d, err := c.ExportApp(ctx, appID, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(d)
	d.Close()
	if err != nil || len(b) != 30 {
		t.Fatalf("download: %d bytes, %v", len(b), err)
	}
	if _, err := c.UploadApp(ctx, "slow", true, &slowReader{n: 6, pause: 50 * time.Millisecond}, -1); err != nil {
		t.Fatalf("upload: %v", err)
	}
}
