// The stall meter of `scripts/bench-server`: how often, and for how long, a CPU stops running a thread that never
// waits. It spins reading the monotonic clock; any gap between two readings over 50 us is time the thread did not
// run although it was always ready (an interrupt, another task of this machine, or, on a virtual machine, the host
// running something else on the physical CPU: time that the guest's `steal` counter need not show). A request in
// flight when its server's or its load generator's CPU stops waits as long, whichever the server: that part of the
// tail latency is the machine's.
//
//   stall-meter SECONDS
//
// Prints one line: stalls per second over 0.5 ms and over 2 ms, the longest in ms, and the percent of the time lost.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
    double seconds = argc == 2 ? atof(argv[1]) : 0;
    if (seconds <= 0) {
        fprintf(stderr, "usage: stall-meter SECONDS\n");
        return 2;
    }
    long long start = now_ns(), end = start + (long long)(seconds * 1e9), previous = start;
    long long over_half_ms = 0, over_2_ms = 0, longest = 0, lost = 0;
    for (long long now = start; now < end; now = now_ns()) {
        long long gap = now - previous;
        previous = now;
        if (gap > 50000) {
            lost += gap;
            over_half_ms += gap > 500000;
            over_2_ms += gap > 2000000;
            if (gap > longest) longest = gap;
        }
    }
    printf("%.1f/s over 0.5 ms, %.1f/s over 2 ms, longest %.2f ms, %.1f %% lost\n", over_half_ms / seconds,
           over_2_ms / seconds, longest / 1e6, lost / (seconds * 1e7));
    return 0;
}
