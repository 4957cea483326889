package daemon

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/store"
)

// MaxCallbackBody bounds a callback's body; QRS sends a few hundred bytes
// per change.
const MaxCallbackBody = 1 << 20

// MaxChangesPerCallback bounds the change infos in one callback.
const MaxChangesPerCallback = 1000

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (d *Daemon) routes() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/callback/{site}/{token}", d.handleCallback).Methods(http.MethodPost)
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(instanceHeader, d.instance)
		fmt.Fprintln(w, "ok")
	}).Methods(http.MethodGet)
	if d.cfg.Console == nil {
		// Without a console, the probes and metrics stay here; /status and
		// /-/reload are nowhere (they need a login, which only the console has).
		r.HandleFunc("/readyz", d.handleReady).Methods(http.MethodGet)
		r.Handle("/metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	}
	return r
}

// handleCallback receives a QRS notification: a JSON array of
// ExternalChangeInfo. It answers 202 only once the changes are committed to
// the store. Only the IDs and change info are taken from the payload; the
// facts are read from QRS when the app is evaluated.
func (d *Daemon) handleCallback(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	s := d.sites[vars["site"]]
	if s == nil || !s.watch || subtle.ConstantTimeCompare([]byte(vars["token"]), []byte(s.token)) != 1 {
		// The same answer for an unknown site and a wrong token: the URL is
		// the secret, and a guesser learns nothing.
		d.metrics.rejected.WithLabelValues("", "not_found").Inc()
		http.NotFound(w, r)
		return
	}
	if p := d.db.problem(); p != "" {
		// Nothing could be recorded: say so at once rather than after the
		// store's timeout, so that QRS's delivery fails fast.
		d.reject(w, s, "store", http.StatusServiceUnavailable, "not recorded: this replica cannot reach its database")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCallbackBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			d.reject(w, s, "too_large", http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxCallbackBody))
			return
		}
		d.reject(w, s, "malformed", http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	changes, ignored, err := parseChanges(body)
	if err != nil {
		d.reject(w, s, "malformed", http.StatusBadRequest, err.Error())
		return
	}
	if len(ignored) > 0 {
		d.metrics.rejected.WithLabelValues(s.alias, "ignored_element").Add(float64(len(ignored)))
		d.log.Warn("callback elements ignored; the others are taken", "site", s.alias, "ignored", ignored)
	}
	now := d.now()
	ns := make([]store.Notification, len(changes))
	for i, c := range changes {
		raw, _ := json.Marshal(c) // re-encoded: only the modelled fields are kept
		ns[i] = store.Notification{Site: s.alias, AppID: strings.ToLower(c.ObjectID), Change: raw, ReceivedAt: now}
	}
	rec, err := d.store.Record(r.Context(), ns)
	if err != nil && !errors.Is(err, store.ErrClosed) && r.Context().Err() == nil {
		d.db.set(d, err)
	}
	if err != nil {
		d.log.Error("could not record a notification; QRS was told to fail", "site", s.alias, "err", err)
		d.reject(w, s, "store", http.StatusServiceUnavailable, "not recorded: the daemon's store is unavailable")
		return
	}
	d.metrics.received.WithLabelValues(s.alias).Add(float64(len(ns)))
	d.metrics.coalesced.WithLabelValues(s.alias).Add(float64(rec.Coalesced))
	d.log.Debug("notification recorded", "site", s.alias, "changes", len(ns), "new_evaluations", rec.Jobs, "coalesced", rec.Coalesced)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "{\"accepted\":%d}\n", len(ns))
}

func (d *Daemon) reject(w http.ResponseWriter, s *site, reason string, status int, msg string) {
	d.metrics.rejected.WithLabelValues(s.alias, reason).Inc()
	d.log.Warn("callback rejected", "site", s.alias, "status", status, "reason", msg)
	http.Error(w, msg, status)
}

// parseChanges decodes a callback body: a JSON array of change infos. Only
// objectType, objectID and changeType decide: an App change with a GUID
// objectID and a changeType of Add, Update or Delete (a number or a name)
// is taken whatever its other fields hold (qrs.ChangeInfo reads them
// leniently), since QRS does not send a rejected callback again. Other
// elements are ignored, each with its reason. An error means the body held
// nothing to take.
func parseChanges(body []byte) (taken []qrs.ChangeInfo, ignored []string, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '[' {
		return nil, nil, errors.New("want a JSON array of change infos")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if len(raws) == 0 {
		return nil, nil, errors.New("the array holds no change info")
	}
	if len(raws) > MaxChangesPerCallback {
		return nil, nil, fmt.Errorf("more than %d change infos in one callback", MaxChangesPerCallback)
	}
	for i, raw := range raws {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '{' {
			ignored = append(ignored, fmt.Sprintf("element %d: want an object", i))
			continue
		}
		var c qrs.ChangeInfo
		if err := json.Unmarshal(raw, &c); err != nil {
			ignored = append(ignored, fmt.Sprintf("element %d: %v", i, err))
			continue
		}
		switch {
		case !strings.EqualFold(c.ObjectType, "App"):
			ignored = append(ignored, fmt.Sprintf("element %d: objectType %q: only App changes are handled", i, c.ObjectType))
			continue
		case !guidRE.MatchString(c.ObjectID):
			ignored = append(ignored, fmt.Sprintf("element %d: objectID %q is not a GUID", i, c.ObjectID))
			continue
		case c.ChangeType == qrs.ChangeUndefined:
			ignored = append(ignored, fmt.Sprintf("element %d: changeType Undefined (0) says nothing; want Add, Update or Delete", i))
			continue
		}
		// A property name no QRS entity has is noise, not a reason to lose the change.
		c.ChangedProperties = slices.DeleteFunc(c.ChangedProperties, func(p string) bool { return p == "" || len(p) > 200 })
		taken = append(taken, c)
	}
	if len(taken) == 0 {
		return nil, ignored, fmt.Errorf("no App change in the callback: %s", strings.Join(ignored, "; "))
	}
	return taken, ignored, nil
}

func (d *Daemon) handleReady(w http.ResponseWriter, r *http.Request) {
	problems := d.readiness(r.Context())
	if len(problems) > 0 {
		http.Error(w, "not ready:\n"+strings.Join(problems, "\n"), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// readiness lists what keeps the daemon from doing its job.
func (d *Daemon) readiness(ctx context.Context) []string {
	var problems []string
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := d.store.Ping(ctx)
	if ctx.Err() == nil || err == nil {
		d.db.set(d, err)
	}
	if err != nil {
		problems = append(problems, "store: "+err.Error())
	}
	if d.rules.Current() == nil {
		problems = append(problems, "policies: not loaded")
	}
	if err := d.audit.Err(); err != nil {
		problems = append(problems, "audit log: "+err.Error())
	}
	if d.cfg.CallbackURL != "" {
		if p := d.callback.problem(); p != "" {
			problems = append(problems, p)
		}
	}
	for _, s := range d.order {
		s.mu.Lock()
		switch {
		case !s.checked:
			problems = append(problems, fmt.Sprintf("site %s: not checked yet", s.alias))
		case d.now().Sub(s.seenAt) > d.staleAfter():
			problems = append(problems, fmt.Sprintf("site %s: not checked since %s (is a replica leading?)", s.alias, s.lastCheck.Format(time.RFC3339)))
		case !s.up:
			problems = append(problems, fmt.Sprintf("site %s: unreachable: %s", s.alias, s.lastErr))
		case s.watch && len(s.handles) == 0:
			problems = append(problems, fmt.Sprintf("site %s: not subscribed", s.alias))
		}
		s.mu.Unlock()
	}
	return problems
}
