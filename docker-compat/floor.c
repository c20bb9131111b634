/* Attaches floor.bpf.o's program and holds it until stdin closes (docker-compat/bench.py). */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "floor: loading %s failed\n", argv[1]);
		return 1;
	}
	struct bpf_program *prog = bpf_object__next_program(obj, NULL);
	if (!prog || !bpf_program__attach(prog)) {
		fprintf(stderr, "floor: attaching failed\n");
		return 1;
	}
	printf("attached\n");
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
