// Init script of the hub's GraphiQL page (served as /console/graphiql.js; the page loads React,
// ReactDOM and GraphiQL from /console/vendor/graphiql/, never from the internet).
// The console's access token (sessionStorage 'c360.token', same tab) becomes the default headers.
(function () {
  'use strict';
  var token = null;
  try {
    token = window.sessionStorage.getItem('c360.token');
  } catch (e) {
    token = null;
  }
  var wsProto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  var options = {
    url: '/graphql',
    subscriptionUrl: wsProto + '//' + window.location.host + '/graphql/ws',
  };
  if (token) options.wsConnectionParams = { Authorization: 'Bearer ' + token, 'X-C360-Purpose': 'SERVICE' };
  var fetcher = window.GraphiQL.createFetcher(options);
  var props = {
    fetcher: fetcher,
    shouldPersistHeaders: false,
    defaultQuery:
      '# c360: the customer 360 over GraphQL. Send the token of a role in the headers below\n' +
      '# (the console fills them in when you come from it).\n\n' +
      'query Me {\n  viewer { subject role staffId branchId capabilities deniedClasses }\n}\n\n' +
      'query Customer {\n  customer(id: "1000000001") {\n    id name kind branch\n' +
      '    accounts { number type balance { amount currency } }\n' +
      '    loans { product outstanding { amount currency } classification }\n' +
      '    sources { system fetchedAt fromCache stale error }\n  }\n}\n',
  };
  if (token) {
    props.defaultHeaders = JSON.stringify(
      { Authorization: 'Bearer ' + token, 'X-C360-Purpose': 'SERVICE' },
      null,
      2
    );
  }
  var el = document.getElementById('graphiql');
  window.ReactDOM.createRoot(el).render(window.React.createElement(window.GraphiQL, props));
})();
