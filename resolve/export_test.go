package resolve

// Test helpers of the internal tests, for the external ones (package
// resolve_test).
var (
	DirOpens            = dirOpens
	AsRuntime           = asRuntime
	MountRuntimeOverlay = mountRuntimeOverlay
	StepPath            = stepPath
)
