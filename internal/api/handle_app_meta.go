package api

import (
	"net/http"

	"github.com/flowrun/flowrun/internal/run"
)

// builtinIconPath is where Dify serves a built-in tool provider's icon,
// behind its CONSOLE_API_URL (empty by default, which leaves the path).
const builtinIconPath = "/console/api/workspaces/current/tool-provider/builtin/"

// apiToolIcon is the icon Dify reports for an API tool whose provider it
// cannot read: flowrun keeps no provider icons.
var apiToolIcon = ordered("background", "#252525", "content", "😁")

// handleMeta serves GET /meta: {"tool_icons": {tool_name: icon}} for the
// tool nodes of the app's graph, as Dify's AppService.get_app_meta builds
// it for workflow and chatflow apps: a built-in tool's icon is a URL, an
// API tool's an emoji object; other provider types (plugins, MCP,
// workflow tools) are left out. A tool named twice keeps its first place
// and its last icon, as a Python dict does.
func (s *Server) handleMeta(w http.ResponseWriter, r *http.Request) {
	icons := toolIcons(appFrom(r.Context()).Workflow.Doc.Workflow.Graph.Nodes)
	e := enc{py: true}
	e.open()
	e.key("tool_icons")
	e.vars(icons)
	e.close()
	e.b = append(e.b, '\n')
	writeJSON(w, http.StatusOK, e.b)
}

// toolIcons lists the icons of the tool nodes, in graph order.
func toolIcons(nodes []run.NodeSpec) run.Vars {
	var icons run.Vars
	for _, n := range nodes {
		if str(n.Data["type"]) != "tool" {
			continue
		}
		var icon any
		switch str(n.Data["provider_type"]) {
		case "builtin":
			icon = builtinIconPath + str(n.Data["provider_id"]) + "/icon"
		case "api":
			icon = apiToolIcon
		default:
			continue
		}
		icons = icons.With(str(n.Data["tool_name"]), icon)
	}
	return icons
}

// str is v if it is a string, else "" (DSL data is loosely typed).
func str(v any) string {
	s, _ := v.(string)
	return s
}
