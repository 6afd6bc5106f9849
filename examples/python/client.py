"""A small neardup.v1 client: submit, check, stream, get, delete, stats.

Offsets in reports are code points, which is what Python's str indexing uses, so
text[p.start:p.end] is the paragraph.
"""

import argparse
import sys

import grpc

from neardup.v1 import neardup_pb2 as pb
from neardup.v1 import neardup_pb2_grpc as rpc


# gRPC code numbers (as ItemError carries them) to names.
CODES = {c.value[0]: c.name for c in grpc.StatusCode}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def print_report(name, text, report):
    for p in report.paragraphs:
        if p.status != pb.PARAGRAPH_STATUS_RECYCLED:
            continue
        print(f"{name}:{p.line}  {text[p.start:p.end][:60]!r}")
        for m in p.matches:
            src = m.source
            where = "(this document)" if src.same_document else src.document_id
            kind = pb.MatchKind.Name(m.kind).removeprefix("MATCH_KIND_").lower()
            print(
                f"  {kind:<7} jaccard {m.jaccard:.2f}  containment "
                f"{m.containment:.2f} / {m.containment_source:.2f}  from {where}:{src.line}"
            )
    s = report.summary
    print(
        f"{s.recycled} of {s.paragraphs} paragraphs recycled ({s.recycled_share:.0%} of the "
        f"text) from {s.distinct_sources} sources; {s.too_short} too short"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--server", default="127.0.0.1:50051")
    ap.add_argument("--namespace", default="")
    ap.add_argument("--replace", action="store_true", help="replace a different text under the same id")
    ap.add_argument("--threshold", type=float, help="Jaccard threshold for this request")
    ap.add_argument("command", choices=["submit", "check", "stream", "get", "delete", "stats"])
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()

    options = pb.QueryOptions()
    if args.threshold is not None:
        options.threshold = args.threshold
    ns = args.namespace

    with grpc.insecure_channel(args.server) as channel:
        stub = rpc.NearDupStub(channel)
        try:
            if args.command == "submit":
                for path in args.files:
                    text = read(path)
                    r = stub.Submit(pb.SubmitRequest(namespace=ns, document_id=path, text=text,
                                                     options=options, replace=args.replace,
                                                     metadata={"path": path}))
                    print(f"{path}: {pb.SubmitOutcome.Name(r.outcome)}")
                    print_report(path, text, r.report)
            elif args.command == "check":
                for path in args.files:
                    text = read(path)
                    r = stub.Check(pb.CheckRequest(namespace=ns, document_id=path, text=text, options=options))
                    print_report(path, text, r.report)
            elif args.command == "stream":
                requests = (pb.SubmitRequest(namespace=ns, document_id=p, text=read(p), options=options)
                            for p in args.files)
                for r in stub.SubmitStream(requests):
                    if r.HasField("error"):
                        code = CODES.get(r.error.code, r.error.code)
                        print(f"#{r.sequence} {r.document_id}: {code}: {r.error.message}")
                    else:
                        s = r.submitted.report.summary
                        print(f"#{r.sequence} {r.document_id}: {pb.SubmitOutcome.Name(r.submitted.outcome)}, "
                              f"{s.recycled} of {s.paragraphs} paragraphs recycled")
            elif args.command == "get":
                for name in args.files:
                    d = stub.GetDocument(pb.GetDocumentRequest(namespace=ns, document_id=name)).document
                    print(f"{d.document_id}: {len(d.paragraphs)} paragraphs, {len(d.text)} characters, "
                          f"stored at {d.stored_at_unix_ms} ms, metadata {dict(d.metadata)}")
            elif args.command == "delete":
                for name in args.files:
                    r = stub.DeleteDocument(pb.DeleteDocumentRequest(namespace=ns, document_id=name))
                    print(f"{name}: deleted ({r.paragraphs} paragraphs)")
            else:
                r = stub.Stats(pb.StatsRequest(namespace=ns))
                for n in r.namespaces:
                    print(f"{n.namespace}: {n.documents} documents, {n.paragraphs} paragraphs, "
                          f"{n.index_bytes} index bytes")
                s = r.settings
                print(f"settings: {s.num_perm} permutations, {s.bands} bands x {s.rows} rows, "
                      f"shingle {s.shingle}, threshold {s.threshold}, containment {s.containment}")
        except grpc.RpcError as e:
            print(f"neardup: {e.code().name}: {e.details()}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
