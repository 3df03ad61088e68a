package api

import (
	"cmp"
	"net/http"
)

// Defaults of a Dify site row that flowrun has no setting for: what Dify
// gives a new app's site (models/model.py Site, services/app_service.py).
const (
	siteIcon            = "🤖"
	siteIconType        = "emoji"
	siteIconBackground  = "#FFEAD5"
	siteDefaultLanguage = "en-US"
)

// handleSite serves GET /site: the app's WebApp settings in Dify 1.17's
// key order (controllers/common/fields.py site model). flowrun serves no
// WebApp, so the settings are those of a new Dify site, with the title,
// description and icon taken from the app and its DSL.
func (s *Server) handleSite(w http.ResponseWriter, r *http.Request) {
	a := appFrom(r.Context())
	info := a.Workflow.Doc.App
	e := enc{py: true}
	e.open()
	e.key("title")
	e.str(a.Name)
	e.key("chat_color_theme")
	e.null()
	e.key("chat_color_theme_inverted")
	e.boolean(false)
	e.key("icon_type")
	e.str(cmp.Or(info.IconType, siteIconType))
	e.key("icon")
	e.str(cmp.Or(info.Icon, siteIcon))
	e.key("icon_background")
	e.str(cmp.Or(info.IconBackground, siteIconBackground))
	e.key("icon_url")
	e.null()
	e.key("description")
	e.str(a.Description)
	e.key("copyright")
	e.null()
	e.key("privacy_policy")
	e.null()
	e.key("input_placeholder")
	e.null()
	e.key("custom_disclaimer")
	e.str("")
	e.key("default_language")
	e.str(siteDefaultLanguage)
	e.key("show_workflow_steps")
	e.boolean(true)
	e.key("use_icon_as_answer_icon")
	e.boolean(info.UseIconAsAnswerIcon)
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}
