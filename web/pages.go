package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// parseTemplates parses every page once, at start, with the layout; any
// error stops the server from starting.
func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{
		"ts": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"duration": runDuration,
		"hostnames": func(j *gaffer.Job) string {
			var n []string
			for _, r := range j.Runs {
				n = append(n, r.Host)
			}
			if len(n) > 4 {
				return strings.Join(n[:4], ", ") + fmt.Sprintf(" +%d", len(n)-4)
			}
			return strings.Join(n, ", ")
		},
	}
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return fmt.Errorf("list templates: %w", err)
	}
	s.pages = map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", p)
		if err != nil {
			return fmt.Errorf("parse template %s: %w", p, err)
		}
		s.pages[name] = t
	}
	return nil
}

func runDuration(start, end *time.Time) string {
	if start == nil {
		return ""
	}
	e := time.Now()
	if end != nil {
		e = *end
	}
	d := e.Sub(*start)
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// render executes a page into a buffer first, so a template error never
// leaves half a page behind.
func (s *Server) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.Logger.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderFor renders a page of a signed-in user: the layout shows the
// admin's links (the audit page) only to an admin.
func (s *Server) renderFor(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	u := UserFrom(r.Context())
	data["Admin"] = u.Role == RoleAdmin
	data["User"] = u
	s.render(w, status, name, data)
}

func (s *Server) renderError(w http.ResponseWriter, status int, msg string) {
	s.render(w, status, "error", map[string]any{"Title": http.StatusText(status), "Message": msg})
}

func (s *Server) jobsPage(w http.ResponseWriter, r *http.Request) {
	jobs, err := s.Jobs.Jobs(r.Context(), gaffer.JobFilter{Limit: 100})
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.renderFor(w, r, http.StatusOK, "jobs", map[string]any{"Title": "Jobs", "Jobs": jobs})
}

func (s *Server) newJobPage(w http.ResponseWriter, r *http.Request) {
	s.renderFor(w, r, http.StatusOK, "new", map[string]any{"Title": "New job", "Hosts": s.Jobs.Hosts()})
}

func (s *Server) jobPage(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	job, err := s.Jobs.Job(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.renderFor(w, r, http.StatusOK, "job", map[string]any{"Title": fmt.Sprintf("Job %d", job.ID), "Job": job})
}
