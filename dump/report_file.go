package dump

import (
	"io"

	"github.com/ovlfix/ovlfix/proto"
)

// ReportFile is the name of the JSON report written next to the images.
const ReportFile = "ovlfix-report.json"

// WriteReportFile writes rep as JSON into dir/ovlfix-report.json, atomically.
func WriteReportFile(dir string, rep *Report) error {
	return proto.WriteFileAtomic(dir, ReportFile, 0o644, func(w io.Writer) error { return rep.WriteJSON(w) })
}
