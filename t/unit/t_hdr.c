#include "tap.h"
int main(void) { skip_all("not written yet"); }
