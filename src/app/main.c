/* Placeholder until the configuration module lands in this issue. */
#include <stdio.h>

int main(void)
{
    puts("feedhandler " FH_VERSION);
    return 0;
}
