#!/bin/sh
# The part of WSO2 Micro Integrator's bin/micro-integrator.sh that tells the JVM where its dirs
# are (the rest of the real script is left out). carbon-patcher reads these switches.
cd "$CARBON_HOME" || exit 1
while [ "$status" = "$START_EXIT_STATUS" ]
do
    $JAVACMD \
    -Dcarbon.home="$CARBON_HOME" \
    -Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager \
    -Dcarbon.config.dir.path="$CARBON_HOME/conf" \
    -Dcarbon.repository.dir.path="$CARBON_HOME/repository" \
    -Dcarbon.components.dir.path="$CARBON_HOME/wso2/components" \
    -Dcarbon.patches.dir.path="$CARBON_HOME/patches" \
    -Djava.util.logging.config.file="$CARBON_HOME/conf/etc/logging-bridge.properties" \
    org.wso2.micro.integrator.bootstrap.Bootstrap "$@"
    status=$?
done
