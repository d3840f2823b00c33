#!/bin/sh
# stand-in for the extension entry script in this sample root
