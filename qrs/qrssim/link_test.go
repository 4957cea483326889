package qrssim

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// A site's link is one bandwidth for all its transfers: three at once each
// move at about a third of it, uploads and downloads alike, and the last
// ends when the link has carried all three.
func TestLinkIsShared(t *testing.T) {
	const size, rate = 1 << 20, 4 << 20 // one app passes in 250ms alone
	sim := startSim(t, SiteOptions{Alias: "dev", Seed: testSeed(t)})
	site := sim.Site("dev")
	c := newRaw(t, site)
	var ids []string
	for i := range 2 {
		app, err := site.AddApp(AppSeed{Name: fmt.Sprintf("App %d", i), Owner: `CORP\rep`, Size: size})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, app.ID)
	}
	content := c.download(ids[0]) // before the link is set: at full speed

	site.SetFaults(Faults{LinkBytesPerSecond: rate})
	start := time.Now()
	c.download(ids[0])
	alone := time.Since(start)
	if alone < 200*time.Millisecond {
		t.Fatalf("1 MiB over a 4 MiB/s link alone took %s", alone)
	}

	var exports [2][]byte
	paths := make([]string, 2)
	for i, id := range ids {
		paths[i] = c.exportPath(id)
	}
	took := make([]time.Duration, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	start = time.Now()
	for i := range 2 {
		wg.Go(func() {
			exports[i], errs[i] = c.get(paths[i])
			took[i] = time.Since(start)
		})
	}
	wg.Go(func() {
		errs[2] = c.uploadErr("Uploaded", content)
		took[2] = time.Since(start)
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
	}
	for i, d := range took {
		// Alone each would take 250ms; sharing, none ends before ~500ms
		// (two thirds of the 3 MiB) and the last not before ~750ms.
		if d < 450*time.Millisecond {
			t.Errorf("transfer %d ended after %s: it did not share the link", i, d)
		}
	}
	if last := max(took[0], took[1], took[2]); last < 700*time.Millisecond || last > 5*time.Second {
		t.Errorf("3 MiB over a 4 MiB/s link took %s", last)
	}
	for i := range exports {
		if len(exports[i]) != size {
			t.Errorf("export %d: %d bytes", i, len(exports[i]))
		}
	}
}

// exportPath exports an app and returns its download path.
func (c *raw) exportPath(id string) string {
	c.t.Helper()
	var exp map[string]any
	c.ok(201, "POST", "/qrs/app/"+id+"/export/"+newID(), nil, nil, &exp)
	return exp["downloadPath"].(string)
}

func (c *raw) download(id string) []byte {
	c.t.Helper()
	b, err := c.get(c.exportPath(id))
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// get and uploadErr are for goroutines: they return errors rather than fail.
func (c *raw) get(path string) ([]byte, error) {
	req, _ := http.NewRequest("GET", c.site.URL()+path, nil)
	req.Header.Set("X-Qlik-Xrfkey", testKey)
	req.Header.Set("X-Qlik-User", c.user)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

func (c *raw) uploadErr(name string, content []byte) error {
	req, _ := http.NewRequest("POST", c.site.URL()+"/qrs/app/upload?name="+name+"&xrfkey="+testKey, bytes.NewReader(content))
	req.Header.Set("X-Qlik-Xrfkey", testKey)
	req.Header.Set("X-Qlik-User", c.user)
	req.Header.Set("Content-Type", "application/vnd.qlik.sense.app")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 201 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
