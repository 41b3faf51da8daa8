package manifest

import "encoding/json"

// MarshalJSON writes "fd" for every holder of kind "fd", fd 0 included
// (a plain omitempty would drop it), and for no other kind.
func (h Holder) MarshalJSON() ([]byte, error) {
	type plain struct {
		PID  int    `json:"pid"`
		Kind string `json:"kind"`
		FD   *int   `json:"fd,omitempty"`
		Map  string `json:"map,omitempty"`
	}
	p := plain{PID: h.PID, Kind: h.Kind, Map: h.Map}
	if h.Kind == "fd" {
		p.FD = &h.FD
	}
	return json.Marshal(p)
}
