#include <stdio.h>

/* __DATE__ and __TIME__ come from SOURCE_DATE_EPOCH when it is set (GCC >= 7). */
int main(void) {
  printf("hello from C, compiled %s %s\n", __DATE__, __TIME__);
  return 0;
}
