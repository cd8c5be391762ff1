/* maintain.c: placeholder until its issue lands; says so and exits 2. */
#include <stdio.h>

#include "../commands.h"
#include "../common/err.h"

int cmd_maintain(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "partmig: %s is not implemented yet\n", argv[0]);
    return PM_EINPUT;
}
