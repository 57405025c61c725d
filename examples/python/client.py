"""Calls Detour from Python over gRPC, with stubs generated from proto/.

Run ./generate.sh first; then: /usr/bin/python3 client.py [host:port] [model]
Uses Debian's python3-grpcio and python3-protobuf.
"""
import os
import sys

sys.path.insert(0, os.environ.get("DETOUR_PY_GEN", os.path.join(os.path.dirname(__file__), "gen")))

import grpc  # noqa: E402
from detour.v1 import chat_pb2, gateway_pb2, gateway_pb2_grpc, result_pb2  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402


def request(model: str, text: str) -> chat_pb2.CompleteRequest:
    return chat_pb2.CompleteRequest(
        model=model,
        messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=[chat_pb2.ContentPart(text=text)])],
    )


def error_details(err: grpc.RpcError) -> dict:
    """Reads google.rpc.ErrorInfo, RetryInfo and detour.v1.ErrorDetail from the status details."""
    out = {"code": err.code().name, "message": err.details()}
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                out["reason"] = info.reason
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                out["retry_after_s"] = retry.retry_delay.seconds
            elif detail.Is(result_pb2.ErrorDetail.DESCRIPTOR):
                d = result_pb2.ErrorDetail()
                detail.Unpack(d)
                out["attempts"] = len(d.attempts)
    return out


def main() -> int:
    address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8080"
    model = sys.argv[2] if len(sys.argv) > 2 else "default"
    with grpc.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)

        res = stub.Complete(request(model, "Hello from Python"), timeout=10)
        trail = ", ".join(f"{a.target.provider}/{a.target.model}:{a.reason or 'ok'}" for a in res.attempts)
        print(f"complete: {res.message.content[0].text!r} served by {res.served_by.provider}/{res.served_by.model} [{trail}]")

        text = ""
        for ev in stub.StreamComplete(gateway_pb2.StreamCompleteRequest(request=request(model, "Streaming from Python")), timeout=10):
            kind = ev.WhichOneof("event")
            if kind == "content":
                text += ev.content.text
            elif kind == "hop":
                print(f"hop: {ev.hop.reason} -> {ev.hop.to.provider}/{ev.hop.to.model}")
            elif kind == "done":
                print(f"stream: {text!r} finish={result_pb2.FinishReason.Name(ev.done.finish_reason)}")

        try:
            stub.Complete(request("no-such-route", "x"), timeout=10)
        except grpc.RpcError as err:
            print(f"error: {error_details(err)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
