package proto

import "github.com/checkpoint-restore/go-criu/v7/rpc"

// Messages of CRIU's RPC (`criu swrk`, criu/cr-service.c; images/rpc.proto):
// aliases of go-criu v7's generated types, for the CRIU proxy (package
// criuproxy), so that go-criu stays imported by this package only.
type (
	CriuReq     = rpc.CriuReq     // runtime -> CRIU
	CriuResp    = rpc.CriuResp    // CRIU -> runtime
	CriuOpts    = rpc.CriuOpts    // CriuReq.opts
	CriuNotify  = rpc.CriuNotify  // CriuResp.notify: an action-script point
	CriuReqType = rpc.CriuReqType // CriuReq.type, CriuResp.type
)

// Request types the proxy looks at.
const (
	CriuReqDump    = rpc.CriuReqType_DUMP
	CriuReqRestore = rpc.CriuReqType_RESTORE
	CriuReqNotify  = rpc.CriuReqType_NOTIFY
	CriuReqVersion = rpc.CriuReqType_VERSION
)
