package qrssim

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/qs-promoter/qs-promoter/qrs"
)

func (s *Site) exportApp(c *call, id, token string) {
	s.withApp(c, id, func(a *appState) {
		if token == "" {
			c.text(http.StatusBadRequest, "Missing export token")
			return
		}
		b := a.blob
		if c.boolParam("skipdata") {
			b = b.withoutData()
		}
		e := &export{token: token, appID: a.id, guid: newID(), fileName: a.name + ".qvf", user: strings.ToLower(c.account), blob: b}
		s.exports[e.guid] = e
		c.json(http.StatusCreated, qrs.ExportResponse{
			ExportToken: token, AppID: a.id,
			DownloadPath: "/tempcontent/" + e.guid + "/" + url.PathEscape(e.fileName) + "?serverNodeId=" + s.nodeID,
			SchemaPath:   "AppExportResponse",
		})
	})
}

func (s *Site) cancelExport(c *call, id, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cancelled := false
	for guid, e := range s.exports {
		if e.token == token && e.appID == id {
			cancelled = cancelled || !e.downloaded
			delete(s.exports, guid)
		}
	}
	c.json(http.StatusOK, qrs.ExportResponse{ExportToken: token, AppID: id, Cancelled: cancelled, SchemaPath: "AppExportResponse"})
}

// download serves an export once, to the user who made it.
func (s *Site) download(c *call, guid string) {
	s.mu.Lock()
	e, ok := s.exports[guid]
	user := repositoryAccount
	if h := c.r.Header.Get("X-Qlik-User"); h != "" {
		user, _ = parseQlikUser(h)
	}
	switch {
	case !ok || e.downloaded:
		s.mu.Unlock()
		c.notFound()
		return
	case e.user != strings.ToLower(user):
		s.mu.Unlock()
		c.text(http.StatusForbidden, "Forbidden")
		return
	}
	e.downloaded = true
	delete(s.exports, guid)
	s.mu.Unlock()

	rc, err := e.blob.open()
	if err != nil {
		c.text(http.StatusInternalServerError, err.Error())
		return
	}
	defer rc.Close()
	h := c.w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(e.blob.id.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": e.fileName}))
	c.w.WriteHeader(http.StatusOK)
	r := &throttledReader{ctx: c.r.Context(), r: rc, bps: s.bytesPerSecond, link: s.link}
	io.CopyBuffer(c.w, countingReader{r: r, add: func(n int64) { s.served.Add(n) }}, make([]byte, 32<<10))
}

// upload creates an app from a .qvf body (POST /qrs/app/upload).
func (s *Site) upload(c *call) {
	name := c.param("name")
	if name == "" {
		c.text(http.StatusBadRequest, "Missing parameter: name (the name of the new app)")
		return
	}
	mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if !strings.EqualFold(mt, "application/vnd.qlik.sense.app") {
		c.text(http.StatusUnsupportedMediaType, "Unsupported Media Type: send the .qvf as application/vnd.qlik.sense.app")
		return
	}
	body := &throttledReader{ctx: c.r.Context(), r: c.r.Body, bps: s.bytesPerSecond, link: s.link}
	b, err := s.content.receive(countingReader{r: body, add: func(n int64) { s.received.Add(n) }})
	if err != nil {
		if c.r.Context().Err() == nil {
			c.text(http.StatusBadRequest, "The upload failed: "+err.Error())
		}
		return
	}
	if b.id.Size == 0 {
		c.text(http.StatusBadRequest, "The uploaded file is empty")
		return
	}
	// keepdata defaults to false in QRS: without it the app arrives without data.
	if !c.boolParam("keepdata") {
		b = b.withoutData()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.newApp(c, name, b)
	a.lastReload = s.sim.reloadTimeOf(b)
	c.json(http.StatusCreated, s.fireAdd(a))
}
