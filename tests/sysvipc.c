/* SysV IPC from inside a container, for the IPC sharing tests (busybox has no ipcmk/ipcs):
     sysvipc make KEY TEXT   a shared memory segment holding TEXT and a semaphore set to 7
     sysvipc look KEY        prints "shm=TEXT sem=N"; exit 1 when either is missing
     sysvipc rm KEY          removes both
   Built with `gcc -static` by the tests, so that it runs in any image. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

#define SIZE 4096

union semun {
    int val;
};

static int fail(const char *what) {
    perror(what);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sysvipc make|look|rm KEY [TEXT]\n");
        return 2;
    }
    key_t key = (key_t)strtol(argv[2], NULL, 10);
    if (strcmp(argv[1], "make") == 0 && argc == 4) {
        int shm = shmget(key, SIZE, IPC_CREAT | IPC_EXCL | 0600);
        if (shm < 0)
            return fail("shmget");
        char *p = shmat(shm, NULL, 0);
        if (p == (void *)-1)
            return fail("shmat");
        strncpy(p, argv[3], SIZE - 1);
        shmdt(p);
        int sem = semget(key, 1, IPC_CREAT | IPC_EXCL | 0600);
        if (sem < 0)
            return fail("semget");
        union semun arg = {.val = 7};
        if (semctl(sem, 0, SETVAL, arg) < 0)
            return fail("semctl SETVAL");
        printf("made shm=%d sem=%d\n", shm, sem);
        return 0;
    }
    if (strcmp(argv[1], "look") == 0) {
        int shm = shmget(key, 0, 0);
        if (shm < 0)
            return fail("shmget");
        char *p = shmat(shm, NULL, SHM_RDONLY);
        if (p == (void *)-1)
            return fail("shmat");
        int sem = semget(key, 0, 0);
        if (sem < 0)
            return fail("semget");
        int val = semctl(sem, 0, GETVAL);
        if (val < 0)
            return fail("semctl GETVAL");
        printf("shm=%.*s sem=%d\n", SIZE, p, val);
        return 0;
    }
    if (strcmp(argv[1], "rm") == 0) {
        int shm = shmget(key, 0, 0), sem = semget(key, 0, 0);
        int rc = 0;
        if (shm < 0 || shmctl(shm, IPC_RMID, NULL) < 0)
            rc = fail("shm IPC_RMID");
        if (sem < 0 || semctl(sem, 0, IPC_RMID) < 0)
            rc = fail("sem IPC_RMID");
        return rc;
    }
    fprintf(stderr, "usage: sysvipc make|look|rm KEY [TEXT]\n");
    return 2;
}
