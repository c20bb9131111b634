"""Issue 18, what a build shows: the image listings after a build (intermediate step images
hidden from `docker images`, shown by `docker images -a`, never dangling, kept by an image
prune) and the build's whole output stream, each compared with the reference dockerd's classic
builder."""
import re

from cases_build import on_each, same
from compat import case, check

SMALL = """FROM busybox
ENV A=1
LABEL l=1
RUN echo ran $A > /ran
COPY f /f
WORKDIR /w
CMD ["cat", "/ran"]
"""


def listing(e, *args):
    """`docker images` rows (repository:tag, full id) of the images not there before."""
    out = e.ok("images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", *args)
    return sorted(tuple(line.split()) for line in out.splitlines() if line.strip())


@case(timeout=600)
def build_intermediate_images_in_listings(b):
    def body(e, ctx):
        before = {
            "images": listing(e),
            "all": listing(e, "-a"),
        }
        e.built(ctx, "b18-layers:1")
        new = lambda rows, old: [r for r in rows if r not in old]  # noqa: E731
        images = new(listing(e), before["images"])
        everything = new(listing(e, "-a"), before["all"])
        dangling = new(listing(e, "--filter", "dangling=true"), before["all"])
        named = new(listing(e, "--filter", "dangling=false"), before["images"])
        e.ok("image", "prune", "-f")
        after_prune = new(listing(e, "-a"), before["all"])
        shape = lambda rows: sorted(r[0] for r in rows)  # noqa: E731
        check(len(after_prune) == len(everything),
              f"{e.name}: image prune took a named image's parents: {everything} -> {after_prune}")
        return {"images": shape(images), "all": shape(everything), "dangling": shape(dangling),
                "named": shape(named), "after prune": shape(after_prune)}
    results = on_each(b, {"Dockerfile": SMALL, "f": "f\n"}, body)
    got = dict(results)
    # Six steps after FROM: one image each; the last one named.
    check(got["berth"]["all"] == ["<none>:<none>"] * 5 + ["b18-layers:1"],
          f"berth: docker images -a after the build: {got['berth']}")
    same(results, "the listings after a build")


def masked(text):
    """A build's output with what differs between runs and engines masked: 12-hex ids, the
    context's size."""
    text = re.sub(r"\b[0-9a-f]{12}\b", "<id>", text)
    return re.sub(r"(Sending build context to Docker daemon)\s+\S+", r"\1 <size>", text)


@case(timeout=600)
def build_stream_text_as_dockerd(b):
    def body(e, ctx):
        return masked(e.built(ctx, "b18-stream:1", "--no-cache"))
    results = on_each(b, {"Dockerfile": SMALL, "f": "f\n"}, body)
    if len(results) > 1:
        (_, ref), (_, got) = results
        check(got == ref, f"the build's output: dockerd:\n{ref}\nberth:\n{got}")
    got = dict(results)["berth"]
    for step in ["ENV A=1", "LABEL l=1", "WORKDIR /w", 'CMD ["cat", "/ran"]']:
        part = got.split(f": {step}\n", 1)[-1].split("Step ", 1)[0]
        check(" ---> Running in <id>\nRemoving intermediate container <id>\n" in part,
              f"berth: the step {step} shows no container of its own: {part!r}")
